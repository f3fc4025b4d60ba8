"""Attention as lines between two rows of tokens: one line per pair, width by weight."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from xattn.plotting import plot_attention_lines  # noqa: E402


def teardown_function():
    plt.close("all")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_every_pair_gets_a_line_and_every_token_its_label():
    ax = plot_attention_lines(None, ["a", "b", "c", "d", "e"], ["x", "y", "z"])
    assert len(ax.lines) == 5 * 3
    assert _texts(ax) == ["a", "b", "c", "d", "e", "x", "y", "z"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["keys, values", "queries"]
    widths = {line.get_linewidth() for line in ax.lines}
    assert widths == {1.0}, "without weights every pair is drawn alike"


def test_self_attention_draws_a_square_of_pairs():
    tokens = ["p", "q", "r", "s"]
    ax = plot_attention_lines(None, tokens, tokens, title="self")
    assert len(ax.lines) == 16 and ax.get_title() == "self"
    starts = sorted({line.get_xdata()[0] for line in ax.lines})
    ends = sorted({line.get_xdata()[1] for line in ax.lines})
    assert np.allclose(starts, ends), "rows of equal length sit above each other"


def test_a_heavier_weight_draws_a_wider_more_opaque_line():
    w = torch.tensor([[0.9, 0.1], [0.0, 1.0], [0.5, 0.5]])
    ax = plot_attention_lines(w, ["a", "b", "c"], ["x", "y"])
    lines = np.array(ax.lines).reshape(3, 2)  # row by row: query i, key j
    width = np.vectorize(lambda line: line.get_linewidth())(lines)
    alpha = np.vectorize(lambda line: line.get_alpha())(lines)
    assert width[0, 0] > width[0, 1] and width[1, 1] > width[1, 0]
    assert alpha[1, 1] == pytest.approx(1.0) and alpha[1, 0] == pytest.approx(0.15)
    assert width[2, 0] == pytest.approx(width[2, 1])
    # The line of query i starts above query i and ends below key j.
    assert lines[1, 0].get_xdata()[0] < lines[2, 0].get_xdata()[0]
    assert lines[0, 0].get_xdata()[1] < lines[0, 1].get_xdata()[1]


def test_a_one_token_row_is_centred():
    ax = plot_attention_lines(np.ones((2, 1)), ["a", "b"], ["x"])
    assert {line.get_xdata()[1] for line in ax.lines} == {0.5}


def test_weights_that_do_not_match_the_tokens_are_refused():
    with pytest.raises(ValueError, match=r"weights must be \(Lq, Lk\) = \(2, 3\)"):
        plot_attention_lines(torch.rand(3, 2), ["a", "b"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="must not be empty"):
        plot_attention_lines(None, [], ["x"])
