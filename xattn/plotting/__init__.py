"""Figures of the book: one helper per kind of figure, tested, so a lesson's figure
cell is a few lines that call one.

- attention maps as heatmaps, rows = query (target) tokens, columns = key (source)
  tokens, padding cropped, one colour scale where maps are compared
  (:func:`plot_attention`, :func:`plot_attention_grid`, :func:`plot_scores`);
- an interactive explorer of cross-attention that renders as self-contained HTML, on
  the website and in Jupyter, over tokens, image patches or audio frames
  (:func:`explore`, :class:`Explorer`);
- attention over an image: a grid of weights over its patches (or pixels) drawn on
  the image, boxes on top, one colour scale and a colour bar
  (:func:`plot_image_attention`, :func:`plot_image_attention_grid`);
- a known alignment, as bands between two sequences or as boxes on a map
  (:func:`plot_alignment_links`, :func:`outline_spans`);
- attention as lines: the query tokens above the key tokens, a line for every pair,
  as wide as its weight (:func:`plot_attention_lines`);
- attribution maps side by side, each row scaled to its largest magnitude (the way
  they are scored), a dot on each row's top cell and the true source span outlined
  (:func:`plot_attributions`);
- attention over audio frames: drawn on a spectrogram with the true character spans,
  and as a characters x frames matrix (an attention map or a guide) with each true span
  outlined (:func:`plot_spectrogram`, :func:`plot_frame_alignment`).
"""

from xattn.plotting._alignment import outline_spans, plot_alignment_links
from xattn.plotting._attributions import plot_attributions
from xattn.plotting._audio import plot_frame_alignment, plot_spectrogram
from xattn.plotting._explore import MAX_WEIGHTS, Explorer, explore
from xattn.plotting._images import plot_image_attention, plot_image_attention_grid
from xattn.plotting._lines import plot_attention_lines
from xattn.plotting._maps import plot_attention, plot_attention_grid, plot_scores

__all__ = [
    "plot_attention",
    "plot_attention_grid",
    "plot_scores",
    "explore",
    "Explorer",
    "MAX_WEIGHTS",
    "plot_image_attention",
    "plot_image_attention_grid",
    "plot_alignment_links",
    "outline_spans",
    "plot_attention_lines",
    "plot_attributions",
    "plot_spectrogram",
    "plot_frame_alignment",
]
