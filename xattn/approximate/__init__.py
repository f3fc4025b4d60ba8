"""Approximate attention: random-feature kernels and sparse patterns.

Chapter 11 builds these. Kernelized attention (Performer's FAVOR+) replaces each
``exp(q . k / sqrt(Dh))`` by a dot product ``phi(q) . phi(k)`` of positive random
features, so that the sum over keys can be taken first: ``phi(Q) (phi(K)^T V)``
costs O((Lq + Lk) M Dh) instead of O(Lq Lk Dh). Sparse attention keeps the exact
scores but lets each query see only some keys: its ``top_k`` best, or a local
window. Masks are bool, True = may attend, as everywhere in xattn. The
``*_attend`` factories return functions ``attend(q, k, v, mask) -> (out,
weights)`` for :func:`xattn.use_attention`.

The kernels live in ``xattn.approximate._kernel``, the sparse patterns in
``xattn.approximate._sparse``; every name is used from here or from ``xattn``.
"""

from xattn.approximate._kernel import (
    draw_features,
    kernel_attend,
    kernel_attention,
    positive_features,
)
from xattn.approximate._sparse import (
    local_attend,
    local_attention,
    local_mask,
    topk_attend,
    topk_attention,
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
