"""An interactive attention explorer that renders as self-contained HTML.

Hover over (or tap, or tab to) a query token and its weights colour the key tokens;
choose the layer and the head, or the mean over heads. Keys may be tokens in a row,
image patches in a grid over the image, or audio frames in a strip over the
spectrogram. The true alignment, when given, outlines the keys each query should
read. The page needs nothing but itself: its script and styles are inline (a few KB,
``explore.js`` and ``explore.css`` beside this file), the data a JSON block, the
image a base64 PNG. Where scripts do not run (an untrusted notebook, a feed reader)
the HTML still shows the first query's weights as a static picture.

The output is the same for the same input, so a notebook's stored explorer is
compared by nbval like any other output: weights are rounded to ``digits`` (3) and
at most :data:`MAX_WEIGHTS` numbers are stored per explorer.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from xattn.checks import fmt_shape

#: The most weights one explorer stores (layers x heads x queries x keys).
MAX_WEIGHTS = 60_000
LAYOUTS = ("tokens", "grid", "strip")
_HERE = Path(__file__).resolve().parent
_COLOUR = (33, 102, 172)  # one blue for every weight: darker = more


def _array(name: str, value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float64).numpy()
    elif (
        isinstance(value, (list, tuple))
        and value
        and isinstance(value[0], torch.Tensor)
    ):
        value = torch.stack([v.detach().to("cpu", torch.float64) for v in value])
        value = value.numpy()
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a tensor or array of numbers, got {type(value).__name__}"
        ) from None
    return out


def _weights(weights, n_queries: int, n_keys: int, probabilities: bool) -> np.ndarray:
    """The weights as (L, H, Lq, Lk) float64, checked."""
    w = _array("weights", weights)
    if w.ndim not in (2, 3, 4):
        raise ValueError(
            "weights must be (Lq, Lk), (H, Lq, Lk) or (layers, H, Lq, Lk), got "
            f"weights {fmt_shape(w.shape)}"
        )
    w = w.reshape((1,) * (4 - w.ndim) + w.shape)  # (L, H, Lq, Lk)
    if w.shape[-2:] != (n_queries, n_keys):
        raise ValueError(
            f"weights {fmt_shape(w.shape)} must end in (Lq, Lk) = "
            f"{fmt_shape((n_queries, n_keys))}, the numbers of query and key tokens"
        )
    if 0 in w.shape:
        raise ValueError(f"weights {fmt_shape(w.shape)} are empty: nothing to explore")
    if w.size > MAX_WEIGHTS:
        raise ValueError(
            f"weights {fmt_shape(w.shape)} hold {w.size:,} numbers, more than the "
            f"{MAX_WEIGHTS:,} an explorer stores: pass fewer layers or heads, or crop "
            "the sequences"
        )
    if not np.isfinite(w).all():
        raise ValueError(f"weights {fmt_shape(w.shape)} contain NaN or infinity")
    if (w < 0).any():
        raise ValueError(
            f"weights {fmt_shape(w.shape)} have a negative entry ({w.min():.3g}); "
            "an explorer colours 0 to the largest weight: pass magnitudes (abs) of "
            "signed scores"
        )
    if probabilities:
        sums = w.sum(-1)  # (L, H, Lq): 1, or 0 for a query with no visible key
        bad = ~(np.isclose(sums, 1.0, atol=1e-3) | (sums == 0))
        if bad.any():
            layer, head, query = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"weights {fmt_shape(w.shape)}: the row of layer {layer}, head {head}, "
                f"query {query} sums to {sums[layer, head, query]:.4f}, not 1; rows of "
                "attention weights sum to one over the keys (probabilities=False for "
                "other numbers)"
            )
    return w


def _tokens(name: str, tokens: Sequence) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {tokens!r}")
    if len(tokens) == 0:
        raise ValueError(f"{name} is empty: an explorer needs at least one token")
    return [str(t) for t in tokens]


def _names(name: str, given: Sequence | None, n: int, default: str) -> list[str]:
    if given is None:
        return [f"{default} {i}" for i in range(n)]
    names = _tokens(name, given)
    if len(names) != n:
        raise ValueError(f"{name} has {len(names)} names for {n} {default}s")
    return names


def _truth(truth, n_queries: int, n_keys: int) -> list[list[int]] | None:
    """For each query, the keys of the true alignment."""
    if truth is None:
        return None
    t = _array("truth", truth)
    if t.shape != (n_queries, n_keys):
        raise ValueError(
            f"truth must be (Lq, Lk) = {fmt_shape((n_queries, n_keys))}, True where a "
            f"query should read a key; got truth {fmt_shape(t.shape)}"
        )
    return [np.flatnonzero(row > 0).tolist() for row in t]


def _png(image, name: str) -> str:
    """An image as a base64 PNG: (H, W) grey, (H, W, 3) or (3, H, W) colour."""
    import matplotlib.image

    a = _array(name, image)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = a.transpose(1, 2, 0)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 3)) or 0 in a.shape:
        raise ValueError(
            f"{name} must be (H, W), (H, W, 3) or (3, H, W), got {fmt_shape(a.shape)}"
        )
    if not np.isfinite(a).all():
        raise ValueError(f"{name} {fmt_shape(a.shape)} contains NaN or infinity")
    low, high = a.min(), a.max()
    a = (a - low) / (high - low) if high > low else np.zeros_like(a)
    if a.ndim == 2:
        a = a[::-1]  # a spectrogram: low frequencies at the bottom
    rgb = np.round(np.atleast_3d(a) * 255).astype(np.uint8)
    rgb = np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, rgb, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class Explorer:
    """Cross-attention weights that render as an interactive explorer (see
    :func:`explore`); in a notebook the last expression of a cell shows it."""

    def __init__(self, data: dict):
        self.data = data
        digest = hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()
        self.id = f"xattn-explorer-{digest[:12]}"

    def __repr__(self) -> str:
        d = self.data

        def count(n: int, noun: str) -> str:
            return f"{n} {noun}" + ("" if n == 1 else "s")

        return (
            f"Explorer({count(len(d['layers']), 'layer')} x "
            f"{count(len(d['heads']), 'head')}, {len(d['queries'])} queries x "
            f"{len(d['keys'])} keys, layout {d['layout']!r})"
        )

    @property
    def html(self) -> str:
        """The explorer as one self-contained piece of HTML."""
        return _render(self)

    def _repr_html_(self) -> str:
        return self.html

    def save(self, path: str | Path) -> Path:
        """Write a standalone HTML page with the explorer; returns its path."""
        path = Path(path)
        title = html.escape(self.data.get("title") or "attention explorer")
        path.write_text(
            f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}'
            f"</title></head><body>\n{self.html}\n</body></html>\n",
            encoding="utf-8",
        )
        return path


def explore(
    weights,
    query_tokens: Sequence,
    key_tokens: Sequence,
    *,
    truth=None,
    layer_names: Sequence | None = None,
    head_names: Sequence | None = None,
    layout: str = "tokens",
    grid: tuple[int, int] | None = None,
    image=None,
    layer: int = -1,
    head: int | None = None,
    probabilities: bool = True,
    digits: int = 3,
    title: str | None = None,
    width: int = 360,
) -> Explorer:
    """An interactive explorer of cross-attention weights, for a page or a notebook.

    Args:
        weights: the weights, rows = queries: a tensor or array (Lq, Lk),
            (H, Lq, Lk) or (layers, H, Lq, Lk), or a list of per-layer (H, Lq, Lk)
            tensors (what a model returns per layer). At most :data:`MAX_WEIGHTS`.
        query_tokens: the Lq query (target) tokens, e.g. the output characters.
        key_tokens: the Lk key (source) tokens; for an image, one label per patch;
            for audio, one per frame.
        truth: optional (Lq, Lk), True (or > 0) where a query should read a key:
            drawn as outlines (the true field, box or span).
        layer_names, head_names: labels for the selectors (default "layer 0", ...).
        layout: ``"tokens"`` (keys in a row), ``"grid"`` (keys are image patches,
            row by row, ``grid=(rows, cols)``) or ``"strip"`` (keys are frames in
            time, drawn as columns over ``image``, a spectrogram).
        grid: (rows, cols) of the patches for ``layout="grid"``; rows * cols = Lk.
        image: drawn beneath the keys: the picture for ``"grid"`` ((H, W, 3),
            (3, H, W) or (H, W)), the spectrogram (mels, frames) for ``"strip"``.
        layer, head: what the explorer opens on: a layer index (default the last)
            and a head index, or None for the mean over heads.
        probabilities: whether rows must sum to one (or to zero for a query with
            no visible key); False for other non-negative numbers, such as
            attributions (each view is coloured from 0 to its largest value).
        digits: decimals kept of each weight (the stored page grows with them).
        title: a line above the explorer.
        width: pixels across the image or strip.

    Shapes:
        weights (layers, H, Lq, Lk) or fewer leading dims; truth (Lq, Lk)
    """
    queries, keys = (
        _tokens("query_tokens", query_tokens),
        _tokens("key_tokens", key_tokens),
    )
    w = _weights(weights, len(queries), len(keys), probabilities)
    n_layers, n_heads = w.shape[:2]
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "grid":
        if (
            not isinstance(grid, tuple)
            or len(grid) != 2
            or not all(isinstance(g, int) and g > 0 for g in grid)
            or grid[0] * grid[1] != len(keys)
        ):
            raise ValueError(
                f"layout 'grid' needs grid=(rows, cols) with rows * cols = Lk = "
                f"{len(keys)}, got grid={grid!r}"
            )
    elif grid is not None:
        raise ValueError(f"grid is for layout='grid', not layout={layout!r}")
    if image is not None and layout == "tokens":
        raise ValueError("an image is drawn under patches or frames: pass layout")
    for name, value, n in (("layer", layer, n_layers), ("head", head, n_heads)):
        if value is None and name == "head":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not -n <= value < n:
            raise ValueError(f"{name} must be an index in [-{n}, {n}), got {value!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 6:
        raise ValueError(f"digits must be an int in [1, 6], got {digits!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 64:
        raise ValueError(f"width must be an int >= 64 pixels, got {width!r}")
    scale = 10**digits
    data = {
        "title": title,
        "layout": layout,
        "grid": list(grid) if grid else None,
        "queries": queries,
        "keys": keys,
        "layers": _names("layer_names", layer_names, n_layers, "layer"),
        "heads": _names("head_names", head_names, n_heads, "head"),
        "scale": scale,
        # Integers in [0, scale]: the page is small and the same every run.
        "weights": np.rint(w * scale).astype(np.int64).tolist(),
        "truth": _truth(truth, len(queries), len(keys)),
        "image": None if image is None else _png(image, "image"),
        "start": {
            "layer": layer % n_layers,
            "head": None if head is None else head % n_heads,
        },
        "width": width,
    }
    return Explorer(data)


def _view(data: dict, layer: int, head: int | None) -> np.ndarray:
    """The (Lq, Lk) weights of one layer and head, or the mean over heads."""
    w = np.asarray(data["weights"][layer], dtype=np.float64) / data["scale"]
    return w.mean(0) if head is None else w[head]


def _cell_style(value: float, top: float, spotlight: bool) -> str:
    """A key's colour, as explore.js draws it: blue for tokens; over an image or a
    spectrogram, a shade that darkens the keys read least."""
    share = 0.0 if top <= 0 else min(1.0, value / top)
    if spotlight:
        return f"background:rgba(0,0,0,{0.8 * (1 - share):.3f})"
    text = "#fff" if 0.9 * share > 0.55 else "#111"
    r, g, b = _COLOUR
    return f"background:rgba({r},{g},{b},{0.9 * share:.3f});color:{text}"


def _label(token: str) -> str:
    """A token as the page shows it: a space as the open-box symbol."""
    return html.escape(token) if token.strip() else "&#9251;"


def _render(explorer: Explorer) -> str:
    d, e = explorer.data, html.escape
    layer, head = d["start"]["layer"], d["start"]["head"]
    view = _view(d, layer, head)
    top = float(view.max())
    row = view[0]
    true_keys = set(d["truth"][0]) if d["truth"] else set()
    option = '<option value="{}"{}>{}</option>'.format
    layers = "".join(
        option(i, " selected" if i == layer else "", e(n))
        for i, n in enumerate(d["layers"])
    )
    heads = option("mean", " selected" if head is None else "", "mean over heads")
    heads += "".join(
        option(i, " selected" if i == head else "", e(n))
        for i, n in enumerate(d["heads"])
    )
    queries = "".join(
        f'<button type="button" class="xe-q{" xe-on" if i == 0 else ""}" data-i="{i}">'
        f"{_label(q)}</button>"
        for i, q in enumerate(d["queries"])
    )
    keys = "".join(
        f'<span class="xe-k{" xe-true" if j in true_keys else ""}" data-j="{j}" '
        f'style="{_cell_style(float(row[j]), top, d["layout"] != "tokens")}" '
        f'title="{_label(k)}: {row[j]:.3f}">'
        f"{_label(k) if d['layout'] == 'tokens' else ''}</span>"
        for j, k in enumerate(d["keys"])
    )
    order = np.argsort(-row, kind="stable")[:3]
    caption = ", ".join(f"{_label(d['keys'][j])} {row[j]:.3f}" for j in order)
    box = _box_style(d)
    # No "<", ">" or "&" in a script block: the data cannot close it or open a comment.
    data_json = json.dumps(d, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        data_json = data_json.replace(char, code)
    title = f'<div class="xe-title">{e(d["title"])}</div>' if d["title"] else ""
    script = (_HERE / "explore.js").read_text()
    style = (_HERE / "explore.css").read_text()
    return (
        f'<div class="xattn-explorer" id="{explorer.id}" data-layout="{d["layout"]}">'
        f"<style>{style}</style>{title}"
        '<div class="xe-controls"><label>layer <select class="xe-layer">'
        f'{layers}</select></label> <label>head <select class="xe-head">{heads}'
        '</select></label> <span class="xe-hint">hover over, tap or tab to a query '
        "token</span></div>"
        f'<div class="xe-queries">{queries}</div>'
        f'<div class="xe-keys xe-{d["layout"]}" style="{box}">{keys}</div>'
        f'<div class="xe-caption">{_label(d["queries"][0])} reads most: {caption}</div>'
        f'<div class="xe-legend">weight: 0 <span class="xe-bar xe-bar-{d["layout"]}">'
        "</span> "
        f'<span class="xe-max">{top:.3f}</span>'
        f"{' · outlined: the true alignment' if d['truth'] else ''}</div>"
        f'<script type="application/json" class="xe-data">{data_json}</script>'
        f"<script>(function (root) {{\n{script}}})"
        f'(document.getElementById("{explorer.id}"));</script></div>'
    )


def _box_style(d: dict) -> str:
    """The key area's size and the image beneath it."""
    if d["layout"] == "tokens":
        return ""
    n = len(d["keys"])
    cols, rows = (d["grid"][1], d["grid"][0]) if d["layout"] == "grid" else (n, 1)
    width = d["width"]
    height = round(width * rows / cols) if d["layout"] == "grid" else 96
    style = (
        f"width:{width}px;height:{height}px;"
        f"grid-template-columns:repeat({cols},1fr);grid-template-rows:repeat({rows},1fr)"
    )
    if d["image"]:
        style += f";background-image:url(data:image/png;base64,{d['image']})"
    return style
