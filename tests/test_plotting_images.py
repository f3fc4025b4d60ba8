"""Attention over images: weights laid on the image, one colour scale, boxes on top."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from xattn.plotting import plot_image_attention, plot_image_attention_grid  # noqa: E402


def teardown_function():
    plt.close("all")


def rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_weights_cover_the_image_and_boxes_sit_in_pixels():
    image = torch.rand(3, 48, 32)
    weights = torch.arange(24.0)  # a 6 x 4 grid of patches, row by row
    ax = plot_image_attention(
        image, weights, grid=(6, 4), boxes=[(8, 16, 24, 40)], title="red"
    )
    picture, heat = ax.images
    np.testing.assert_allclose(picture.get_array(), image.permute(1, 2, 0).numpy())
    assert picture.get_extent() == heat.get_extent() == [0, 32, 48, 0]
    np.testing.assert_array_equal(heat.get_array(), weights.reshape(6, 4).numpy())
    assert heat.get_clim() == (0.0, 23.0)  # from 0 to the largest weight
    (box,) = rectangles(ax)
    assert box.get_xy() == (8, 16) and (box.get_width(), box.get_height()) == (16, 24)
    assert ax.get_title() == "red"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (pixels)", "y (pixels)")
    assert len(ax.figure.axes) == 2, "a colour bar is drawn"
    assert ax.figure.axes[1].get_ylabel() == "attention weight"


def test_square_weights_need_no_grid_and_the_image_alone_draws_no_heat():
    ax = plot_image_attention(torch.rand(1, 12, 12), torch.rand(9), colorbar=False)
    assert ax.images[1].get_array().shape == (3, 3)
    assert len(ax.figure.axes) == 1
    ax = plot_image_attention(np.random.rand(12, 12), ticks=False)
    assert len(ax.images) == 1 and list(ax.get_xticks()) == []


def test_patch_lines_mark_the_patches():
    ax = plot_image_attention(torch.rand(3, 48, 48), patch_lines=8, colorbar=False)
    lines = ax.get_lines()
    assert len(lines) == 2 * 5  # x and y at 8, 16, 24, 32, 40
    assert sorted({line.get_ydata()[0] for line in lines[::2]}) == [8, 16, 24, 32, 40]


def test_grid_shares_one_colour_scale_and_one_colour_bar():
    image = torch.rand(3, 48, 48)
    weights = torch.rand(7, 36)
    weights[3, 5] = 2.0  # the largest weight of all panels sets the top of the scale
    fig = plot_image_attention_grid(
        image,
        [None, *weights],
        titles=["scene", *"abcdefg"],
        boxes=[[(0, 0, 16, 16), (24, 24, 40, 40)], *([None] * 7)],
        ncols=5,
        title="per word",
    )
    panels, bar = fig.axes[:10], fig.axes[10:]
    assert len(fig.axes) == 11 and len(bar) == 1
    assert [ax.get_title() for ax in panels[:8]] == ["scene", *"abcdefg"]
    assert not panels[8].axison and not panels[9].axison  # slots past the last panel
    assert len(panels[0].images) == 1 and len(rectangles(panels[0])) == 2
    clims = {ax.images[1].get_clim() for ax in panels[1:8]}
    assert clims == {(0.0, 2.0)}
    assert bar[0].get_xlabel() == "attention weight"  # a bar below the panels
    assert fig.get_suptitle() == "per word"
    # pixel labels on the outer panels only
    assert panels[0].get_ylabel() == "y (pixels)" and panels[1].get_ylabel() == ""
    assert panels[5].get_xlabel() == "x (pixels)" and panels[0].get_xlabel() == ""


def test_grid_of_images_with_boxes_per_panel_and_a_fixed_scale():
    images = torch.rand(2, 3, 16, 16)
    boxes = [torch.tensor([[0.0, 0.0, 8.0, 8.0]]), [(4, 4, 12, 12), (1, 1, 2, 2)]]
    fig = plot_image_attention_grid(
        images,
        torch.rand(2, 4, 4),
        boxes=boxes,
        box_color=["white", ["cyan", "red"]],
        vmax=0.5,
        colorbar="right",
        ticks=False,
    )
    left, right, bar = fig.axes
    np.testing.assert_allclose(
        right.images[0].get_array(), images[1].permute(1, 2, 0).numpy()
    )
    assert left.images[1].get_clim() == right.images[1].get_clim() == (0.0, 0.5)
    assert [r.get_edgecolor()[:3] for r in rectangles(right)] == [(0, 1, 1), (1, 0, 0)]
    assert len(rectangles(left)) == 1
    assert bar.get_ylabel() == "attention weight"  # a bar at the right
    assert list(left.get_xticks()) == [] and left.get_ylabel() == ""


@pytest.mark.parametrize(
    "call, pattern",
    [
        (
            lambda: plot_image_attention(torch.rand(2, 3, 8, 8)),
            r"image must be \(3, H, W\), \(1, H, W\) or \(H, W\), channels first, "
            r"got image \(2, 3, 8, 8\)",
        ),
        (
            lambda: plot_image_attention(torch.rand(3, 8, 8), torch.rand(10)),
            r"weights \(10,\): 10 is not a square number of cells; pass grid",
        ),
        (
            lambda: plot_image_attention(
                torch.rand(3, 8, 8), torch.rand(6), grid=(2, 2)
            ),
            r"grid must be \(rows, cols\) of positive ints with rows \* cols = 6",
        ),
        (
            lambda: plot_image_attention(torch.rand(3, 8, 8), boxes=[(0, 0, 1)]),
            r"boxes must be \(x0, y0, x1, y1\) each, \(K, 4\), got boxes \(1, 3\)",
        ),
        (
            lambda: plot_image_attention(
                torch.rand(3, 8, 8), boxes=[(0, 0, 1, 1)], box_color=["red", "blue"]
            ),
            r"box_color has 2 colours for 1 boxes",
        ),
        (
            lambda: plot_image_attention(torch.rand(3, 8, 8), patch_lines=0),
            r"patch_lines must be a positive int \(pixels\), got 0",
        ),
        (
            lambda: plot_image_attention_grid(torch.rand(3, 8, 8), []),
            r"weights must hold at least one panel",
        ),
        (
            lambda: plot_image_attention_grid(
                torch.rand(3, 8, 8), torch.rand(2, 4), ncols=0
            ),
            r"ncols must be a positive int, got 0",
        ),
        (
            lambda: plot_image_attention_grid(
                torch.rand(3, 8, 8), torch.rand(2, 4), colorbar="left"
            ),
            r"colorbar must be 'bottom', 'right' or None, got 'left'",
        ),
        (
            lambda: plot_image_attention_grid(torch.rand(3, 3, 8, 8), torch.rand(2, 4)),
            r"images has 3 entries for 2 panels",
        ),
        (
            lambda: plot_image_attention_grid(
                torch.rand(3, 8, 8), torch.rand(2, 4), titles=["a"]
            ),
            r"titles has 1 entries for 2 panels",
        ),
        (
            lambda: plot_image_attention_grid(
                torch.rand(3, 8, 8), torch.rand(2, 4), titles="ab"
            ),
            r"titles must be one title per panel",
        ),
    ],
)
def test_bad_calls_say_what_is_wrong(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
