"""The one heatmap helper: orientation, labels, cropping, grids."""

import matplotlib.pyplot as plt
import numpy as np
import torch

from xattn import plot_attention, plot_attention_grid


def teardown_function():
    plt.close("all")


def test_rows_are_queries_columns_are_keys_and_padding_is_cropped():
    w = torch.arange(4 * 6, dtype=torch.float32).reshape(4, 6)
    ax = plot_attention(w, ["a", "b", "c"], ["x", "y", " ", "z"], title="t")
    shown = ax.images[0].get_array()
    assert shown.shape == (3, 4), "padding rows/columns must be cropped"
    np.testing.assert_array_equal(shown, w[:3, :4].numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "\u2423", "z"]
    assert ax.get_xlabel() == "key (source) tokens"
    assert ax.get_ylabel() == "query (target) tokens"
    assert ax.get_title() == "t"
    assert len(ax.figure.axes) == 2, "a colour bar is drawn"


def test_without_tokens_uses_positions_and_accepts_numpy():
    ax = plot_attention(np.eye(3), colorbar=False, annotate=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert len(ax.texts) == 9
    assert len(ax.figure.axes) == 1


def test_grid_draws_one_panel_per_layer_and_head_on_one_scale():
    w = torch.rand(2, 3, 4, 5)
    fig = plot_attention_grid(
        w,
        list("abcd"),
        list("vwxyz"),
        row_labels=["L0", "L1"],
        col_labels=["h0", "h1", "h2"],
    )
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 6
    assert panels[0].get_title() == "L0, h0" and panels[-1].get_title() == "L1, h2"
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in panels)
    assert (
        panels[0].get_ylabel() == "query (target) tokens"
        and panels[1].get_ylabel() == ""
    )


def test_grid_accepts_one_row():
    fig = plot_attention_grid(torch.rand(2, 3, 3))
    assert len([ax for ax in fig.axes if ax.images]) == 2


def test_annotations_stay_readable_on_a_diverging_map():
    w = torch.tensor([[-1.0, 0.0, 1.0]])
    ax = plot_attention(
        w, vmin=-1, vmax=1, cmap="RdBu_r", annotate=True, cbar_label="score"
    )
    colours = [t.get_color() for t in ax.texts]
    assert colours == ["white", "black", "white"], (
        "dark ends get light text, the pale middle dark text"
    )
    assert ax.figure.axes[1].get_ylabel() == "score"


def test_grid_takes_one_token_list_per_row():
    fig = plot_attention_grid(
        torch.rand(2, 2, 4, 5), [list("ab"), list("abc")], [list("vw"), list("vwx")]
    )
    panels = [ax for ax in fig.axes if ax.images]
    assert panels[0].images[0].get_array().shape == (2, 2)
    assert panels[2].images[0].get_array().shape == (3, 3)
    assert [t.get_text() for t in panels[3].get_yticklabels()] == ["a", "b", "c"]
