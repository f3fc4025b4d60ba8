"""Boolean masks, True = may attend, and converters from the other conventions.

Three conventions meet in practice (keep a key / hide a key):

- xattn and ``F.scaled_dot_product_attention``, bool: True / False;
- ``nn.MultiheadAttention``'s ``key_padding_mask``, bool: False / True (inverted);
- Hugging Face's ``attention_mask``, integers: 1 / 0.

Everything in xattn takes the first; the converters below take the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from xattn.checks import check_int, checked, fmt_shape

__all__ = [
    "padding_mask",
    "causal_mask",
    "from_key_padding_mask",
    "to_key_padding_mask",
    "from_hf_attention_mask",
    "from_additive_mask",
]


def _check_padding_mask(lengths, max_len=None, device=None) -> None:
    if not isinstance(lengths, torch.Tensor):
        if not isinstance(lengths, Sequence) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in lengths
        ):
            raise ValueError(
                f"lengths must be a tensor or a sequence of ints, got {lengths!r}"
            )
        lengths = torch.as_tensor(list(lengths), dtype=torch.long)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (B,), got lengths {fmt_shape(lengths)}")
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got {lengths.tolist()}")
    longest = int(lengths.max()) if lengths.numel() else 0
    if max_len is not None:
        check_int("max_len", max_len)
        if max_len < longest:
            raise ValueError(
                f"max_len {max_len} is shorter than the longest sequence, length "
                f"{longest}"
            )


@checked(_check_padding_mask)
def padding_mask(
    lengths: torch.Tensor | Sequence[int],
    max_len: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """True at the real tokens of each sequence, False at its padding.

    Args:
        lengths: the number of real tokens in each sequence, B of them.
        max_len: the padded length L; default ``max(lengths)``.
        device: where to build the mask; default that of ``lengths`` (or CPU).

    Shapes:
        lengths (B,) -> mask (B, L)
    """
    lengths = torch.as_tensor(lengths, device=device)  # (B,)
    if max_len is None:
        max_len = int(lengths.max()) if len(lengths) else 0
    positions = torch.arange(max_len, device=lengths.device)  # (L,)
    return positions[None, :] < lengths[:, None]  # (B, L)


def _check_causal_mask(length, device=None) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")


@checked(_check_causal_mask)
def causal_mask(length: int, device: torch.device | str | None = None) -> torch.Tensor:
    """True where query i may see key j, that is j <= i (no peeking ahead).

    Only for self-attention, where queries and keys are the same sequence; never
    between two sequences of different lengths.

    Shapes:
        -> mask (L, L)
    """
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()  # (L, L)


def _require_tensor(name: str, m: object) -> torch.Tensor:
    if not isinstance(m, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(m).__name__}")
    return m


def _check_from_key_padding_mask(key_padding_mask) -> None:
    m = _require_tensor("key_padding_mask", key_padding_mask)
    if m.dtype != torch.bool:
        raise ValueError(
            f"key_padding_mask must be bool (True = ignore), got dtype {m.dtype}; "
            "for an additive float mask use from_additive_mask"
        )


@checked(_check_from_key_padding_mask)
def from_key_padding_mask(key_padding_mask: torch.Tensor) -> torch.Tensor:
    """nn.MultiheadAttention's ``key_padding_mask`` (True = ignore) to True = attend."""
    return ~key_padding_mask


def _check_to_key_padding_mask(mask) -> None:
    m = _require_tensor("mask", mask)
    if m.dtype != torch.bool:
        raise ValueError(f"mask must be bool (True = attend), got dtype {m.dtype}")


@checked(_check_to_key_padding_mask)
def to_key_padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """Convert a True = attend mask to nn.MultiheadAttention's True = ignore."""
    return ~mask


def _check_from_hf_attention_mask(attention_mask) -> None:
    m = _require_tensor("attention_mask", attention_mask)
    if m.is_floating_point() or m.dtype == torch.bool:
        raise ValueError(
            f"attention_mask must hold integer 1s and 0s, got dtype {m.dtype}"
        )
    if not bool(((m == 0) | (m == 1)).all()):
        bad = sorted(set(m[(m != 0) & (m != 1)].tolist()))[:5]
        raise ValueError(f"attention_mask must hold only 0 and 1, found {bad}")


@checked(_check_from_hf_attention_mask)
def from_hf_attention_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """A Hugging Face ``attention_mask`` of 1 (attend) and 0 (padding) to bool."""
    return attention_mask == 1


def _check_from_additive_mask(additive) -> None:
    m = _require_tensor("additive mask", additive)
    if not m.is_floating_point():
        raise ValueError(
            f"an additive mask must be floating point (0 and -inf), got dtype {m.dtype}"
        )
    if not bool(((m == 0) | (m == float("-inf"))).all()):
        raise ValueError(
            "an additive mask must hold only 0 (keep) and -inf (hide); other values "
            "are a score bias"
        )


@checked(_check_from_additive_mask)
def from_additive_mask(additive: torch.Tensor) -> torch.Tensor:
    """Convert an additive float mask (0 = keep, -inf = hide) to bool True = attend.

    Only the two values 0 and -inf are meaningful as a mask; anything else is a
    bias on the scores, which a bool mask cannot express.
    """
    return additive == 0
