"""Figures of the book: one helper per kind of figure, tested, so a lesson's figure
cell is a few lines that call one.

- attention maps as heatmaps, rows = query (target) tokens, columns = key (source)
  tokens, padding cropped, one colour scale where maps are compared
  (:func:`plot_attention`, :func:`plot_attention_grid`, :func:`plot_scores`);
- an interactive explorer of cross-attention that renders as self-contained HTML, on
  the website and in Jupyter, over tokens, image patches or audio frames
  (:func:`explore`, :class:`Explorer`).
"""

from xattn.plotting._explore import MAX_WEIGHTS, Explorer, explore
from xattn.plotting._maps import plot_attention, plot_attention_grid, plot_scores

__all__ = [
    "plot_attention",
    "plot_attention_grid",
    "plot_scores",
    "explore",
    "Explorer",
    "MAX_WEIGHTS",
]
