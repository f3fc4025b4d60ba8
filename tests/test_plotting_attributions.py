"""Attribution maps side by side: rows scaled as they are scored, truth outlined."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

from xattn.plotting import plot_attributions


def teardown_function():
    plt.close("all")


def panels(fig):
    return [ax for ax in fig.axes if ax.images]


def outlines(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]


MAPS = {
    "attention": torch.tensor([[0.1, 0.7, 0.2, 0.0], [0.5, 0.25, 0.25, 0.0]]),
    "gradient": torch.tensor([[-4.0, 1.0, 2.0, 9.0], [0.0, 0.0, 0.0, 0.0]]),
    "float64": np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, -8.0, 1.0]]),
}


def test_each_row_is_scaled_to_its_largest_magnitude_on_one_scale():
    fig = plot_attributions(MAPS, ["a", "b"], ["w", "x", "y", "z"], ncols=2)
    drawn = panels(fig)
    assert [ax.get_title() for ax in drawn] == list(MAPS)
    for ax, m in zip(drawn, MAPS.values()):
        shown = ax.images[0].get_array()
        a = np.abs(np.asarray(m, dtype=float))
        top = a.max(-1, keepdims=True)
        want = np.divide(a, top, out=np.zeros_like(a), where=top > 0)
        np.testing.assert_allclose(shown, want, rtol=1e-6)
        assert ax.images[0].get_clim() == (0.0, 1.0)
    # a dot on each row's top cell: the cell a method is scored by
    dots = drawn[1].collections[0].get_offsets()
    np.testing.assert_array_equal(dots, [[3, 0], [0, 1]])
    # three panels, two a row: the fourth place is left empty, one colour bar
    assert len(fig.axes) == 5 and sum(ax.get_visible() for ax in fig.axes) == 4
    assert fig.axes[-1].get_ylabel() == "|attribution| / largest in its row"


def test_fields_are_separated_and_the_truth_outlined_per_row():
    maps = {"m": torch.rand(3, 6)}
    fields = torch.tensor([0, 0, -1, 1, 1, 1])
    truth = torch.tensor([1, -1, 0])
    fig = plot_attributions(
        maps, list("abc"), list("uvwxyz"), key_fields=fields, truth=truth,
        field_names=["year", "day"],
    )  # fmt: skip
    (ax,) = panels(fig)
    boxes = sorted((b.get_x(), b.get_y(), b.get_width()) for b in outlines(ax))
    assert boxes == [(-0.5, 1.5, 2), (2.5, -0.5, 3)], "row 0 -> keys 3-5, row 2 -> 0-1"
    lines = sorted(line.get_xdata()[0] for line in ax.lines)
    assert lines == [1.5, 2.5], "a line wherever the field changes"
    assert sorted(t.get_text() for t in ax.texts) == ["day", "year"]
    assert ax.get_xlabel() == "key (source) tokens"
    assert ax.get_ylabel() == "query (target) tokens"


def test_padding_is_cropped_to_the_tokens():
    fig = plot_attributions({"m": np.ones((5, 7))}, list("ab"), list("xyz"))
    assert panels(fig)[0].images[0].get_array().shape == (2, 3)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"maps": {}}, r"maps must be a non-empty mapping"),
        ({"maps": {"a": np.ones((2, 3)), "b": np.ones((2, 4))}}, r"one shape"),
        ({"maps": {"a": np.ones(3)}}, r"2-D \(Lq, Lk\)"),
        ({"ncols": 0}, r"ncols must be a positive int, got 0"),
        ({"key_fields": [0, 1]}, r"key_fields must be 1-D integer ids, at least 3"),
        ({"key_fields": [0.0, 1.0, 1.0]}, r"key_fields must be 1-D integer"),
        ({"truth": [0, 1]}, r"truth needs key_fields"),
        ({"key_fields": [0, 1, 2], "field_names": ["a"]}, r"1 names for 3 field ids"),
    ],
)
def test_bad_calls_say_what_is_wrong(kwargs, pattern):
    args = {"maps": {"m": np.ones((2, 3))}, **kwargs}
    maps = args.pop("maps")
    with pytest.raises(ValueError, match=pattern):
        plot_attributions(maps, ["a", "b"], ["x", "y", "z"], **args)


def test_more_tokens_than_the_map_has():
    with pytest.raises(ValueError, match=r"at most one token per row and column"):
        plot_attributions({"m": np.ones((2, 3))}, list("abc"), list("xyz"))
