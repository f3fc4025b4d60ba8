"""Attention over audio frames: on a spectrogram, and as a step x frame matrix."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import xattn
from xattn.plotting import plot_frame_alignment, plot_spectrogram


def teardown_function():
    plt.close("all")


FEATURES = torch.arange(30 * 4, dtype=torch.float32).reshape(30, 4)  # (F, M)
SPANS = torch.tensor([[3, 11], [11, 20], [20, 27], [-1, -1]])  # the last row: padding


def test_both_helpers_are_exported():
    assert xattn.plotting.plot_spectrogram is plot_spectrogram
    assert "plot_frame_alignment" in xattn.plotting.__all__


def test_a_spectrogram_is_drawn_with_time_across_and_the_true_boundaries():
    ax = plot_spectrogram(FEATURES, spans=SPANS, text="205", title="t")
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), FEATURES.numpy().T)
    assert image.get_extent() == [0, 30, 0, 4]
    assert image.origin == "lower"
    edges = sorted(line.get_xdata()[0] for line in ax.lines)
    assert edges == [3, 11, 20, 27]  # every start and the last end
    assert [t.get_text() for t in ax.texts] == ["2", "0", "5"]
    assert [t.get_position()[0] for t in ax.texts] == [7.0, 15.5, 23.5]
    assert ax.get_xlabel() == "input frame (10 ms)" and ax.get_ylabel() == "mel band"
    assert ax.get_title() == "t" and ax.get_xlim() == (0, 30)


def test_attention_is_drawn_as_one_step_curve_per_character_over_its_frames():
    weights = torch.zeros(3, 4)  # (L, F'): memory frames of 8 input frames
    weights[0, 0], weights[1, 1], weights[2, 2:] = 1.0, 1.0, 0.5
    ax = plot_spectrogram(
        FEATURES, spans=SPANS, text="205", weights=weights, factor=8, scale=4
    )
    curves = [p for p in ax.patches if hasattr(p, "get_data")]
    assert len(curves) == 3
    stairs = curves[2].get_data()  # (values, edges, baseline)
    values, edges = stairs.values, stairs.edges
    np.testing.assert_allclose(values, 4 * weights[2].numpy())
    np.testing.assert_array_equal(edges, [0, 8, 16, 24, 32])
    labels = {t.get_text(): t.get_position() for t in ax.texts}
    assert set(labels) == {"2", "0", "5"}
    assert labels["0"][0] == 12.0  # centred on its most-attended memory frame
    assert ax.get_ylim() == (0, 4.8) and "weight x 4" in ax.get_ylabel()


def test_a_matrix_of_characters_against_frames_outlines_each_true_span():
    weights = torch.rand(3, 4, generator=torch.Generator().manual_seed(0))
    ax = plot_frame_alignment(weights, "205", spans=SPANS, factor=8, title="soft")
    (image,) = ax.images
    np.testing.assert_allclose(image.get_array(), weights.numpy())
    assert image.get_extent() == [0, 32, 2.5, -0.5]  # x in input frames
    assert image.get_clim() == (0.0, 1.0)
    boxes = [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches]
    assert boxes == [(3, -0.5, 8, 1), (11, 0.5, 9, 1), (20, 1.5, 7, 1)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "0", "5"]
    assert ax.get_ylabel() == "output character" and ax.get_title() == "soft"
    assert len(ax.figure.axes) == 2  # the colour bar


def test_panels_compared_share_a_scale_and_a_guide_has_no_spans():
    fig, axes = plt.subplots(1, 2)
    guide = torch.rand(5, 12, generator=torch.Generator().manual_seed(1))
    rows = ["2", "0", "5", "9", "<eos>"]
    plot_frame_alignment(guide, rows, ax=axes[0], colorbar=False, xlabel="t")
    plot_frame_alignment(guide, rows, ax=axes[1], cbar_label="penalty W")
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in axes)
    assert not axes[0].patches and axes[0].get_xlabel() == "t"
    assert len(fig.axes) == 3 and fig.axes[-1].get_ylabel() == "penalty W"
    assert [t.get_text() for t in axes[0].get_yticklabels()][-1] == "<eos>"


BAD = [
    ("features 1-d", lambda: plot_spectrogram(torch.zeros(5)), r"features must have 2"),
    (
        "features nan",
        lambda: plot_spectrogram(torch.full((3, 2), float("nan"))),
        r"features must be finite",
    ),
    ("factor 0", lambda: plot_spectrogram(FEATURES, factor=0), r"factor must be a pos"),
    (
        "spans past the end",
        lambda: plot_spectrogram(FEATURES, spans=[[0, 40]]),
        r"spans must be \[start, end\) with start < end <= 30 frames",
    ),
    (
        "spans not pairs",
        lambda: plot_spectrogram(FEATURES, spans=[0, 4]),
        r"spans must be \(L, 2\) frames",
    ),
    (
        "text and spans disagree",
        lambda: plot_spectrogram(FEATURES, spans=SPANS, text="20"),
        r"text has 2 characters but spans 3 rows",
    ),
    (
        "weights too short for the frames",
        lambda: plot_spectrogram(FEATURES, weights=torch.zeros(3, 3), factor=8),
        r"cover 24 frames, fewer than the features' 30",
    ),
    (
        "text for a matrix",
        lambda: plot_frame_alignment(torch.zeros(3, 4), "20"),
        r"text must label every row of weights: 2 characters vs weights \(3, 4\)",
    ),
    (
        "matrix 3-d",
        lambda: plot_frame_alignment(torch.zeros(1, 3, 4), "205"),
        r"weights must have 2 dims",
    ),
]


@pytest.mark.parametrize("call, pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_calls_raise_a_value_error_that_says_what_is_wrong(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
