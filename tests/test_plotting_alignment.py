"""A known alignment drawn as bands between two sequences and as boxes on a map."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from xattn.plotting import (  # noqa: E402
    outline_spans,
    plot_alignment_links,
    plot_attention,
)

# "2023-03-17" from "17 March 2023": year, month and day cross over.
TARGET, SOURCE = list("2023-03-17"), list("17 March 2023")
SPANS = {"year": ((0, 4), (9, 13)), "month": ((5, 7), (3, 8)), "day": ((8, 10), (0, 2))}


def teardown_function():
    plt.close("all")


def test_boxes_enclose_the_rows_and_columns_of_each_pair():
    ax = plot_attention(torch.rand(11, 13), TARGET + ["<eos>"], SOURCE)
    boxes = outline_spans(ax, SPANS)
    drawn = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert drawn == boxes and [b.get_label() for b in boxes] == list(SPANS)
    year = boxes[0]  # rows 0-3 (cells centred on 0..3), columns 9-12
    assert year.get_xy() == (8.5, -0.5)
    assert (year.get_width(), year.get_height()) == (4, 4)
    assert not year.get_fill()
    # the default colours are the colour cycle, in order
    assert [b.get_edgecolor() for b in boxes] == [to_rgba(f"C{i}") for i in range(3)]
    # the map itself is untouched
    assert ax.images[0].get_array().shape == (11, 13)


def test_colours_can_be_named_per_span_and_must_cover_every_span():
    _, ax = plt.subplots()
    (box,) = outline_spans(ax, {"day": ((8, 10), (0, 2))}, colors={"day": "red"})
    assert box.get_edgecolor() == to_rgba("red")
    with pytest.raises(ValueError, match=r"no colour for \['year'\]"):
        outline_spans(ax, SPANS, colors={"day": "red", "month": "blue"})


def test_links_write_both_rows_and_join_each_pair_by_a_band():
    ax = plot_alignment_links(TARGET, SOURCE, SPANS, title="en")
    texts = [t.get_text() for t in ax.texts]
    assert texts == TARGET + ["1", "7", "\u2423", *"March", "\u2423", *"2023"]
    bands = [p for p in ax.patches if isinstance(p, Polygon)]
    assert [b.get_label() for b in bands] == ["year", "month", "day"]
    offset = (len(SOURCE) - len(TARGET)) / 2  # the target row is centred
    year = bands[0].get_xy()[:4]
    np.testing.assert_allclose(
        year, [(offset - 0.4, 0.8), (4 + offset - 0.6, 0.8), (12.4, 0.2), (8.6, 0.2)]
    )
    # the year band starts left of the day band on top and ends right of it below:
    # they cross
    day = bands[2].get_xy()[:4]
    assert year[0][0] < day[0][0] and year[3][0] > day[3][0]
    assert ax.get_title() == "en" and ax.get_xlabel() == "position in the source"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["source", "target"]
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["year", "month", "day"]


@pytest.mark.parametrize(
    "spans, message",
    [
        ({}, "non-empty mapping"),
        ({"year": ((0, 4),)}, r"must be a pair \(\(q0, q1\), \(k0, k1\)\)"),
        ({"year": (0, 4)}, r"query positions as \(start, end\).*got 0"),
        ({"year": ((0, 4), (9, 14))}, r"key positions .* within \[0, 13\]"),
        ({"year": ((4, 4), (9, 13))}, r"query positions .* 0 <= start < end"),
        ({"year": ((0, 4.0), (9, 13))}, "query positions"),
        ({"year": ((0, 11), (9, 13))}, r"query positions .* within \[0, 10\]"),
    ],
)
def test_bad_spans_are_a_value_error(spans, message):
    with pytest.raises(ValueError, match=message):
        plot_alignment_links(TARGET, SOURCE, spans)


def test_empty_tokens_are_a_value_error():
    with pytest.raises(ValueError, match="must not be empty"):
        plot_alignment_links([], SOURCE, SPANS)
