"""Kernelized attention: positive random features for the softmax kernel.

Index legend (the notation page's symbols):
    q query position (Lq), k key position (Lk), d feature within a head (Dh, or
    Dv for values), m random feature (M), ... any leading batch and head dims.

``exp(q . k / sqrt(Dh))`` is estimated by ``phi(x) . phi(y)`` with ``x = q /
Dh ** 0.25`` and ``y = k / Dh ** 0.25``, so the sum over the keys is taken once,
``phi(Q) (phi(K)^T V)``, and the (Lq, Lk) matrix is never formed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from xattn.checks import (
    check_bool,
    check_floating,
    check_int,
    check_mask,
    check_min_dim,
    check_positive_int,
    check_qkv,
    checked,
    fmt_shape,
)

__all__ = ["draw_features", "positive_features", "kernel_attention", "kernel_attend"]

Attend = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]


def check_device(device) -> None:
    """None, or a torch.device or string that names one (``"cpu"``, ``"cuda:0"``)."""
    if device is None or isinstance(device, torch.device):
        return
    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be None, a torch.device or a name such as 'cpu' or "
            f"'cuda:0', got {device!r}"
        ) from None


def _check_draw_features(
    n_features,
    d,
    *,
    orthogonal=True,
    generator=None,
    device=None,
    dtype=torch.float32,
) -> None:
    check_positive_int("n_features", n_features)
    check_positive_int("d", d)
    check_bool("orthogonal", orthogonal)
    if generator is not None and (
        not isinstance(generator, torch.Generator) or generator.device.type != "cpu"
    ):
        raise ValueError(f"generator must be a CPU torch.Generator, got {generator!r}")
    check_device(device)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")


@checked(_check_draw_features)
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


def _check_features(x_name: str, x: torch.Tensor, w_name: str, w: torch.Tensor) -> None:
    """Projections ``w`` (M, Dh), finite, for vectors ``x`` (..., L, Dh)."""
    check_floating(w_name, w)
    if w.dim() != 2 or w.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"{x_name} (..., L, Dh) and {w_name} (M, Dh) must share Dh: {x_name} "
            f"{fmt_shape(x)} vs {w_name} {fmt_shape(w)}"
        )
    if w.shape[0] == 0:
        raise ValueError(
            f"{w_name} {fmt_shape(w)} has no rows (M = 0): the estimate needs at "
            "least one random feature"
        )
    if w.dtype != x.dtype or w.device != x.device:
        raise ValueError(
            f"{x_name} and {w_name} must share a dtype and device: {x_name} "
            f"{x.dtype} on {x.device} vs {w_name} {w.dtype} on {w.device}"
        )
    if not bool(torch.isfinite(w).all()):
        raise ValueError(
            f"{w_name} {fmt_shape(w)} must be finite: it holds NaN or inf, and "
            "every feature made with it would too"
        )


def _check_positive_features(x, w, *, stabilize=None, mask=None) -> None:
    check_floating("x", x)
    check_min_dim("x", x, 2, "(..., L, Dh)")
    if x.shape[-1] == 0:
        raise ValueError(f"x {fmt_shape(x)} has no features (Dh = 0)")
    _check_features("x", x, "w", w)
    if stabilize not in (None, "row", "all"):
        raise ValueError(f"stabilize must be None, 'row' or 'all', got {stabilize!r}")
    check_mask(mask, x.shape[:-1], x.device, target="the rows of x")


@checked(_check_positive_features)
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


def _check_kernel_attention(
    q, k, v, mask=None, *, features, need_weights=False
) -> None:
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    if mask is not None and mask.shape[-2] != 1 and q.shape[-2] != 1:
        raise ValueError(
            "kernel_attention sums over the keys once for all queries, so its mask "
            "must be the same for every query, (..., 1, Lk); got mask "
            f"{fmt_shape(mask)} for q {fmt_shape(q)}"
        )
    _check_features("q", q, "features", features)
    check_bool("need_weights", need_weights)


@checked(_check_kernel_attention)
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


def _check_kernel_attend(
    n_features, *, orthogonal=True, seed=0, need_weights=False
) -> None:
    check_positive_int("n_features", n_features)
    check_bool("orthogonal", orthogonal)
    check_int("seed", seed)
    check_bool("need_weights", need_weights)


@checked(_check_kernel_attend)
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
    drawn: dict[tuple, torch.Tensor] = {}

    def attend(q, k, v, mask):
        key = (q.shape[-1], q.device, q.dtype)
        if key not in drawn:
            generator = torch.Generator().manual_seed(seed)
            drawn[key] = draw_features(
                n_features,
                q.shape[-1],
                orthogonal=orthogonal,
                generator=generator,
                device=q.device,
                dtype=q.dtype,
            )
        return kernel_attention(
            q, k, v, mask, features=drawn[key], need_weights=need_weights
        )

    return attend
