"""A known alignment drawn two ways: bands between two sequences, boxes on a map.

Where the right alignment is known (which source characters carry the year that a
translation writes first, which frames carry a spoken character), a figure can show it
beside what attention learned. An alignment is a mapping from a name to a pair of
half-open spans, ``name -> ((q0, q1), (k0, k1))``: query (target) positions ``q0`` to
``q1 - 1`` take their content from key (source) positions ``k0`` to ``k1 - 1``.

- :func:`plot_alignment_links` writes the query tokens above the key tokens and joins
  each query span to its key span by a coloured band: bands that cross are reordering.
- :func:`outline_spans` outlines each pair as a box on an attention map drawn by
  :func:`~xattn.plot_attention` (rows = queries, columns = keys), so that a
  reader sees whether the bright cells fall inside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Spans = Mapping[str, tuple[tuple[int, int], tuple[int, int]]]


def _span(name: str, span, which: str, length: int | None) -> tuple[int, int]:
    ok = (
        isinstance(span, (tuple, list))
        and len(span) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) for i in span)
        and 0 <= span[0] < span[1]
    )
    if not ok or (length is not None and span[1] > length):
        within = "" if length is None else f" within [0, {length}]"
        raise ValueError(
            f"spans[{name!r}] must give {which} positions as (start, end) with "
            f"0 <= start < end{within}, got {span!r}"
        )
    return int(span[0]), int(span[1])


def _checked_spans(
    spans: Spans, n_queries: int | None = None, n_keys: int | None = None
) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    if not isinstance(spans, Mapping) or not spans:
        raise ValueError(
            "spans must be a non-empty mapping name -> ((q0, q1), (k0, k1)), got "
            f"{spans!r}"
        )
    out = {}
    for name, pair in spans.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                f"spans[{name!r}] must be a pair ((q0, q1), (k0, k1)), got {pair!r}"
            )
        out[str(name)] = (
            _span(name, pair[0], "query", n_queries),
            _span(name, pair[1], "key", n_keys),
        )
    return out


def _colours(names: Sequence[str], colors: Mapping[str, str] | None) -> dict:
    """The given colour of each name, else matplotlib's tab10 cycle in order."""
    colors = dict(colors or {})
    missing = [n for n in names if n not in colors]
    if colors and missing:
        raise ValueError(f"colors has no colour for {missing}; give one per span")
    return {n: colors.get(n, f"C{i % 10}") for i, n in enumerate(names)}


def outline_spans(
    ax,
    spans: Spans,
    *,
    colors: Mapping[str, str] | None = None,
    linewidth: float = 1.5,
) -> list:
    """Outline each aligned pair of spans as a box on an attention map.

    Args:
        ax: an Axes with a map drawn by :func:`~xattn.plot_attention`
            (cell ``(q, k)`` centred at x = k, y = q).
        spans: ``name -> ((q0, q1), (k0, k1))``, half-open: the rows and columns
            the box encloses.
        colors: a colour per name; default matplotlib's colour cycle in order.
        linewidth: the boxes' line width.

    Returns:
        The rectangles drawn, labelled with their names (for a legend).
    """
    from matplotlib.patches import Rectangle

    checked = _checked_spans(spans)
    colours = _colours(list(checked), colors)
    boxes = []
    for name, ((q0, q1), (k0, k1)) in checked.items():
        box = Rectangle(
            (k0 - 0.5, q0 - 0.5),
            k1 - k0,
            q1 - q0,
            fill=False,
            edgecolor=colours[name],
            linewidth=linewidth,
            clip_on=False,
            label=name,
        )
        boxes.append(ax.add_patch(box))
    return boxes


def plot_alignment_links(
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    spans: Spans,
    *,
    ax=None,
    colors: Mapping[str, str] | None = None,
    title: str | None = None,
    fontsize: float | None = None,
):
    """Draw the query tokens above the key tokens, each aligned pair joined by a band.

    The query row is centred over the key row; a band runs from the query span
    down to the key span it is aligned with, so reordering shows as crossing
    bands. A space is written as the open-box symbol.

    Args:
        query_tokens: the target tokens (e.g. the characters of ``"2023-03-17"``).
        key_tokens: the source tokens.
        spans: ``name -> ((q0, q1), (k0, k1))``, half-open positions in the two.
        ax: the Axes to draw on; default a new figure.
        colors: a colour per name; default matplotlib's colour cycle in order.
        title: the Axes' title.
        fontsize: size of the tokens; default matplotlib's.

    Returns:
        The Axes drawn on; its legend handles are the bands, labelled by name.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    queries = ["\u2423" if t == " " else str(t) for t in query_tokens]
    keys = ["\u2423" if t == " " else str(t) for t in key_tokens]
    if not queries or not keys:
        raise ValueError(
            f"query_tokens and key_tokens must not be empty, got {len(queries)} and "
            f"{len(keys)}"
        )
    checked = _checked_spans(spans, len(queries), len(keys))
    colours = _colours(list(checked), colors)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.25 * max(len(keys), len(queries)) + 1.5, 2.2))
    offset = (len(keys) - len(queries)) / 2  # centre the queries over the keys
    for name, ((q0, q1), (k0, k1)) in checked.items():
        corners = [
            (q0 + offset - 0.4, 0.8),
            (q1 + offset - 0.6, 0.8),
            (k1 - 0.6, 0.2),
            (k0 - 0.4, 0.2),
        ]
        band = Polygon(corners, color=colours[name], alpha=0.35, lw=0, label=name)
        ax.add_patch(band)
    text = dict(ha="center", va="center", family="monospace", fontsize=fontsize)
    for i, token in enumerate(queries):
        ax.text(i + offset, 0.9, token, **text)
    for j, token in enumerate(keys):
        ax.text(j, 0.1, token, **text)
    ax.set_xlim(-1, max(len(keys), len(queries)))
    ax.set_ylim(0, 1)
    ax.set_yticks([0.1, 0.9], ["source", "target"])
    ax.set_xlabel("position in the source")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
