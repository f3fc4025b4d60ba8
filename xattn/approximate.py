"""Approximate attention: random-feature kernels and sparse patterns.

Index legend (the notation page's symbols):
    b batch (B), h head (H), q query position (Lq), k key position (Lk),
    d feature within a head (Dh), m random feature (M).

Kernelized attention (Performer's FAVOR+) replaces each ``exp(q . k / sqrt(Dh))``
by a dot product ``phi(q) . phi(k)`` of positive random features, so that the sum
over keys can be taken first: ``phi(Q) (phi(K)^T V)`` costs O((Lq + Lk) M Dh)
instead of O(Lq Lk Dh). Sparse attention keeps the exact scores but lets each
query see only some keys: its ``top_k`` best, or a local window. Masks are bool,
True = may attend, as everywhere in xattn. The ``*_attend`` factories return
functions ``attend(q, k, v, mask) -> (out, weights)`` for
:func:`xattn.use_attention`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from xattn.attention import (
    aggregate,
    attention,
    attention_scores,
    mask_bias,
    masked_softmax,
)
from xattn.checks import (
    check_bool,
    check_floating,
    check_int,
    check_mask,
    check_min_dim,
    check_positive_int,
    check_qkv,
    fmt_shape,
)

__all__ = [
    "draw_features",
    "positive_features",
    "kernel_attention",
    "topk_attention",
    "local_mask",
    "local_attention",
    "kernel_attend",
    "topk_attend",
    "local_attend",
]

Attend = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]


def draw_features(
    n_features: int,
    d: int,
    *,
    orthogonal: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Random projections ``w`` for :func:`positive_features`, one row per feature.

    Every row is distributed as a standard Gaussian vector, so each feature gives
    an unbiased estimate. With ``orthogonal``, the rows come in blocks of ``d``
    mutually orthogonal directions (QR of a Gaussian matrix, signs fixed so that
    the directions are uniform), each scaled by the length of an independent
    Gaussian vector; the estimates of a block are then negatively correlated and
    their average varies less than that of i.i.d. rows.

    Args:
        n_features: M, the number of rows.
        d: the width Dh of the vectors to project.
        orthogonal: orthogonal blocks (True) or i.i.d. Gaussian rows (False).
        generator: a CPU ``torch.Generator``; the same seed gives the same rows on
            every device (they are drawn on the CPU in float64, then moved).
        device, dtype: where the result lives and its dtype.

    Shapes:
        -> w (M, Dh)
    """
    check_positive_int("n_features", n_features)
    check_positive_int("d", d)
    check_bool("orthogonal", orthogonal)
    if generator is not None and (
        not isinstance(generator, torch.Generator) or generator.device.type != "cpu"
    ):
        raise ValueError(f"generator must be a CPU torch.Generator, got {generator!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    draw = dict(generator=generator, dtype=torch.float64)
    gauss = torch.randn(n_features, d, **draw)  # (M, Dh)
    if orthogonal:
        n_blocks = -(-n_features // d)
        q, r = torch.linalg.qr(torch.randn(n_blocks, d, d, **draw))  # (n, Dh, Dh)
        signs = torch.where(torch.diagonal(r, dim1=-2, dim2=-1) < 0, -1.0, 1.0)
        rows = (q * signs[:, None, :]).transpose(1, 2)  # (n, Dh, Dh): orthonormal rows
        directions = rows.reshape(n_blocks * d, d)[:n_features]  # (M, Dh)
        gauss = directions * gauss.norm(dim=-1, keepdim=True)  # Gaussian lengths
    return gauss.to(device=device, dtype=dtype)


def positive_features(
    x: torch.Tensor,
    w: torch.Tensor,
    *,
    stabilize: str | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """FAVOR+ features: ``phi(x) = exp(x w^T - |x|^2 / 2) / sqrt(M)``, all positive.

    For Gaussian rows of ``w``, ``E[phi(x) . phi(y)] = exp(x . y)``: the softmax
    kernel. ``stabilize`` subtracts a constant in the exponent so that nothing
    overflows; in attention it cancels between numerator and denominator, as
    long as it is the same for every key of a query. No gradient flows through
    that constant, which is exact wherever it cancels.

    Args:
        x: the vectors, already scaled (attention passes ``q / Dh ** 0.25``).
        w: the projections, from :func:`draw_features`.
        stabilize: None (the estimator itself), ``"row"`` (each row's largest
            feature becomes 1 / sqrt(M): for queries) or ``"all"`` (the largest
            over the last two dims: for keys).
        mask: bool, True = a real row; hidden rows get zero features and are left
            out of the stabilizer.

    Shapes:
        x (..., L, Dh), w (M, Dh), mask (..., L) broadcastable -> phi (..., L, M)
    """
    check_floating("x", x)
    check_floating("w", w)
    check_min_dim("x", x, 2, "(..., L, Dh)")
    if w.dim() != 2 or w.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"x (..., L, Dh) and w (M, Dh) must share Dh: x {fmt_shape(x)} vs w "
            f"{fmt_shape(w)}"
        )
    if w.dtype != x.dtype or w.device != x.device:
        raise ValueError(
            f"x and w must share a dtype and device: x {x.dtype} on {x.device} vs w "
            f"{w.dtype} on {w.device}"
        )
    if stabilize not in (None, "row", "all"):
        raise ValueError(f"stabilize must be None, 'row' or 'all', got {stabilize!r}")
    check_mask(mask, x.shape[:-1], x.device, target="the rows of x")
    logits = x @ w.T  # (..., L, M)
    # In place from here: these tensors are the largest the attention makes.
    logits.sub_((x * x).sum(-1, keepdim=True) / 2)
    if mask is not None:
        logits.masked_fill_(~mask[..., None], float("-inf"))
    shift = 0.5 * math.log(w.shape[0])  # exp(l - shift) = exp(l) / sqrt(M)
    if stabilize is not None:
        dims = -1 if stabilize == "row" else (-2, -1)
        # A constant, as far as gradients go (it cancels wherever it is used). A
        # group with no real row has max -inf: clamped, its exp(-inf) stays 0.
        peak = logits.detach().amax(dim=dims, keepdim=True)
        shift = shift + peak.clamp(torch.finfo(x.dtype).min)
    return logits.sub_(shift).exp_()  # (..., L, M)


def kernel_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    features: torch.Tensor,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Softmax attention estimated with positive random features, keys summed first.

    ``out_i = phi(q_i) (sum_j phi(k_j) v_j^T) / (phi(q_i) . sum_j phi(k_j))``:
    the (Lq, Lk) matrix is never formed, unless ``need_weights`` asks for it (to
    draw maps). A hidden key contributes nothing, and a query with no visible key
    gets a zero output (and zero weights).

    Args:
        q, k, v: queries, keys, values.
        mask: bool, True = may attend, the same for every query: (..., 1, Lk).
        features: the projections ``w`` (M, Dh), from :func:`draw_features`.
        need_weights: also return the implied weights (O(Lq Lk M) extra work).

    Returns:
        ``(out, weights)``; weights are None unless ``need_weights``.

    Shapes:
        q (..., Lq, Dh), k (..., Lk, Dh), v (..., Lk, Dv), mask (..., 1, Lk),
        features (M, Dh) -> out (..., Lq, Dv), weights (..., Lq, Lk)
    """
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    if mask is not None and mask.shape[-2] != 1 and q.shape[-2] != 1:
        raise ValueError(
            "kernel_attention sums over the keys once for all queries, so its mask "
            "must be the same for every query, (..., 1, Lk); got mask "
            f"{fmt_shape(mask)} for q {fmt_shape(q)}"
        )
    check_bool("need_weights", need_weights)
    scale = q.shape[-1] ** -0.25  # exp(q . k / sqrt(Dh)) = exp((q s) . (k s))
    key_mask = None if mask is None else mask[..., 0, :]  # (..., Lk)
    phi_q = positive_features(q * scale, features, stabilize="row")  # (..., Lq, M)
    phi_k = positive_features(k * scale, features, stabilize="all", mask=key_mask)
    # phi_k: (..., Lk, M), zero at hidden keys
    kv = torch.einsum("... k m, ... k d -> ... m d", phi_k, v)  # (..., M, Dv)
    norm = torch.einsum("... q m, ... m -> ... q", phi_q, phi_k.sum(-2))  # (..., Lq)
    # No visible key: norm and numerator are both exactly 0, and 0 / tiny = 0.
    norm = norm.clamp(torch.finfo(norm.dtype).tiny)[..., None]  # (..., Lq, 1)
    out = torch.einsum("... q m, ... m d -> ... q d", phi_q, kv) / norm  # (..., Lq, Dv)
    weights = None
    if need_weights:
        weights = torch.einsum("... q m, ... k m -> ... q k", phi_q, phi_k) / norm
    return out, weights


def topk_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    top_k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact scores, but each query's softmax runs over its ``top_k`` best keys only.

    With ``top_k >= Lk`` this is :func:`xattn.attention`, bit for bit. The scores
    are all computed (a fast kernel would find the best keys another way); what
    changes is that the weight of the other keys is given to the chosen ones.
    Ties at the k-th score are broken by ``torch.topk``.

    Shapes:
        q (..., Lq, Dh), k (..., Lk, Dh), v (..., Lk, Dv), mask (..., Lq | 1, Lk)
        -> out (..., Lq, Dv), weights (..., Lq, Lk)
    """
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    check_positive_int("top_k", top_k)
    bias = None if mask is None else mask_bias(mask, q.dtype)  # -inf where hidden
    scores = attention_scores(q, k, bias=bias)  # (..., Lq, Lk), the mask folded in
    biased = True
    if top_k < k.shape[-2]:
        chosen = scores.topk(top_k, dim=-1).indices  # (..., Lq, top_k)
        keep = torch.zeros(scores.shape, dtype=torch.bool, device=q.device)
        keep.scatter_(-1, chosen, True)  # (..., Lq, Lk)
        # A hidden key is chosen only when fewer than top_k are visible: drop it.
        mask = keep if mask is None else keep & mask
        biased = False  # the scores hold the old mask's bias, not this one's
    weights = masked_softmax(scores, mask, biased=biased)  # (..., Lq, Lk)
    return aggregate(weights, v), weights  # (..., Lq, Dv)


def local_mask(
    lq: int,
    lk: int,
    window: int,
    *,
    block: int = 1,
    offset: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """True where query i may see key j: their blocks at most ``window`` apart.

    Query i sits at position ``offset + i``, key j at position j, and positions
    are grouped into blocks of ``block``. With ``block=1`` this is a sliding
    window, ``|offset + i - j| <= window``; with ``window=0`` and a larger block,
    block-diagonal attention. Any window >= max(offset + Lq, Lk) shows every key.

    Shapes:
        -> mask (Lq, Lk)
    """
    check_int("lq", lq)
    check_int("lk", lk)
    check_int("window", window)
    check_positive_int("block", block)
    check_int("offset", offset)
    rows = (torch.arange(lq, device=device) + offset) // block  # (Lq,)
    cols = torch.arange(lk, device=device) // block  # (Lk,)
    return (rows[:, None] - cols[None, :]).abs() <= window  # (Lq, Lk)


def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    window: int,
    block: int = 1,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention restricted to :func:`local_mask`'s pattern (and ``mask``).

    Query i is taken to be at position ``offset + i``: pass the whole query
    sequence (teacher forcing, or decoding without caches). A window that covers
    every key gives :func:`xattn.attention`, bit for bit.

    Shapes:
        q (..., Lq, Dh), k (..., Lk, Dh), v (..., Lk, Dv), mask (..., Lq | 1, Lk)
        -> out (..., Lq, Dv), weights (..., Lq, Lk)
    """
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    lq, lk = q.shape[-2], k.shape[-2]
    pattern = local_mask(lq, lk, window, block=block, offset=offset, device=q.device)
    if not bool(pattern.all()):
        pattern = pattern.view(*[1] * (q.dim() - 2), lq, lk)  # (1, ..., Lq, Lk)
        mask = pattern if mask is None else mask & pattern
    return attention(q, k, v, mask)  # (..., Lq, Dv), (..., Lq, Lk)


def kernel_attend(
    n_features: int,
    *,
    orthogonal: bool = True,
    seed: int = 0,
    need_weights: bool = False,
) -> Attend:
    """An ``attend`` function for :func:`xattn.use_attention`: kernelized attention.

    The features are drawn once per head width, device and dtype, from a
    generator seeded with ``seed``, and shared by every layer and head: the same
    seed gives the same function. ``need_weights`` makes it return the implied
    weights too, for maps.
    """
    check_positive_int("n_features", n_features)
    check_bool("orthogonal", orthogonal)
    check_int("seed", seed)
    check_bool("need_weights", need_weights)
    drawn: dict[tuple, torch.Tensor] = {}

    def attend(q, k, v, mask):
        key = (q.shape[-1], q.device, q.dtype)
        if key not in drawn:
            generator = torch.Generator().manual_seed(seed)
            drawn[key] = draw_features(
                n_features, q.shape[-1], orthogonal=orthogonal, generator=generator,
                device=q.device, dtype=q.dtype,
            )  # fmt: skip
        return kernel_attention(
            q, k, v, mask, features=drawn[key], need_weights=need_weights
        )

    return attend


def topk_attend(top_k: int) -> Attend:
    """An ``attend`` function for :func:`xattn.use_attention`: top-k attention."""
    check_positive_int("top_k", top_k)
    return lambda q, k, v, mask: topk_attention(q, k, v, mask, top_k=top_k)


def local_attend(window: int, *, block: int = 1) -> Attend:
    """An ``attend`` function for :func:`xattn.use_attention`: local attention.

    It places query i at position i of the queries it is given, so use it where
    the layer sees the whole target: teacher forcing, or
    ``greedy_decode(..., use_cache=False)``; a cached step passes one query and
    would put every step at position 0.
    """
    check_int("window", window)
    check_positive_int("block", block)
    return lambda q, k, v, mask: local_attention(
        q, k, v, mask, window=window, block=block
    )
