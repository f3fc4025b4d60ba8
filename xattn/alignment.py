"""Alignment over time: a diagonal prior on attention, and scores against true spans.

Where text is written from audio (or audio from text), output step n of N belongs
near input frame t of T with ``n / N ~ t / T``. Tachibana et al. (2018) turn that
into a loss, the guided attention of :func:`guided_attention_loss`. Two scores
read an attention map against the truth: how often its argmax moves forward
(:func:`monotonic_share`) and how often it lands inside the character's true
span (:func:`span_hits`), with the hit rate of a frame drawn at random.

Shapes: B batch, H heads, Lq output steps, Lk memory frames, L characters,
F' memory frames of a batch (after a pyramid that merges ``factor`` input frames).
"""

from __future__ import annotations

import math

import torch

from xattn.checks import (
    check_bool_mask,
    check_floating,
    check_number,
    check_positive_int,
    checked,
    fmt_shape,
)

__all__ = [
    "guided_attention_weights",
    "guided_attention_loss",
    "alignment_path",
    "monotonic_share",
    "span_hits",
]


def _check_ints(name: str, t: object) -> None:
    """An integer tensor (ids, lengths, frame indices), not float or bool."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(
            f"{name} must be an integer tensor, got {name} {fmt_shape(t)} of dtype "
            f"{t.dtype}; convert it first, e.g. {name}.long()"
        )


def _check_lengths(tgt_lengths, src_lengths, lq, lk) -> None:
    _check_ints("tgt_lengths", tgt_lengths)
    _check_ints("src_lengths", src_lengths)
    if (
        tgt_lengths.shape != src_lengths.shape
        or tgt_lengths.dim() != 1
        or not len(tgt_lengths)
    ):
        raise ValueError(
            f"tgt_lengths and src_lengths must be (B,) each: {fmt_shape(tgt_lengths)} "
            f"vs {fmt_shape(src_lengths)}"
        )
    if tgt_lengths.device != src_lengths.device:
        raise ValueError(
            f"tgt_lengths and src_lengths must be on one device: {tgt_lengths.device} "
            f"vs {src_lengths.device}"
        )
    if int(tgt_lengths.min()) < 0 or int(src_lengths.min()) < 0:
        raise ValueError("lengths must be >= 0")
    if int(tgt_lengths.max()) > lq or int(src_lengths.max()) > lk:
        raise ValueError(f"lengths must fit in lq={lq} and lk={lk}")


def _check_guided_weights(
    tgt_lengths, src_lengths, lq, lk, g=0.2, dtype=torch.float32
) -> None:
    check_positive_int("lq", lq)
    check_positive_int("lk", lk)
    check_number("g", g, 0.0, math.inf, low_open=True)
    _check_lengths(tgt_lengths, src_lengths, lq, lk)
    if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")


@checked(_check_guided_weights)
def guided_attention_weights(
    tgt_lengths: torch.Tensor,
    src_lengths: torch.Tensor,
    lq: int,
    lk: int,
    g: float = 0.2,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Tachibana et al.'s penalty ``1 - exp(-(n / N - t / T)^2 / (2 g^2))``, centred.

    Step n and frame t are taken at their centres, ``(n + 1/2) / N`` and
    ``(t + 1/2) / T``, so that the N steps share the T frames evenly. The penalty is
    zero on that diagonal, near 1 far from it, and 0 at padding, so that weight
    there costs nothing.

    Args:
        tgt_lengths: N of each utterance (integers, at most ``lq``).
        src_lengths: T of each utterance (integers, at most ``lk``).
        lq, lk: the size of the map.
        g: the width of the diagonal band, > 0.
        dtype: of the result.

    Shapes:
        tgt_lengths (B,) N, src_lengths (B,) T -> (B, lq, lk)
    """
    n = torch.arange(lq, device=tgt_lengths.device)[None, :, None]  # (1, Lq, 1)
    t = torch.arange(lk, device=tgt_lengths.device)[None, None, :]  # (1, 1, Lk)
    big_n = tgt_lengths.clamp(min=1)[:, None, None].to(dtype)  # (B, 1, 1)
    big_t = src_lengths.clamp(min=1)[:, None, None].to(dtype)
    w = 1 - torch.exp(
        -(((n + 0.5) / big_n - (t + 0.5) / big_t) ** 2) / (2 * g * g)
    )  # (B, Lq, Lk)
    real = (n < tgt_lengths[:, None, None]) & (t < src_lengths[:, None, None])
    return w * real


def _check_guided_loss(weights, tgt_lengths, src_lengths, g=0.2) -> None:
    check_floating("weights", weights)
    _check_ints("tgt_lengths", tgt_lengths)
    if weights.dim() < 4 or weights.shape[-4] != tgt_lengths.shape[0]:
        raise ValueError(
            f"weights must be (..., B, H, Lq, Lk) with B = len(tgt_lengths): weights "
            f"{fmt_shape(weights)} vs tgt_lengths {fmt_shape(tgt_lengths)}"
        )
    lq, lk = weights.shape[-2:]
    if not lq or not lk:
        raise ValueError(
            f"weights must have steps and frames, got {fmt_shape(weights)}"
        )
    _check_guided_weights(tgt_lengths, src_lengths, lq, lk, g, weights.dtype)


@checked(_check_guided_loss)
def guided_attention_loss(
    weights: torch.Tensor,
    tgt_lengths: torch.Tensor,
    src_lengths: torch.Tensor,
    g: float = 0.2,
) -> torch.Tensor:
    """Attention weight off the diagonal: weights times the guide, per guided step.

    The guide is :func:`guided_attention_weights` (in the dtype of ``weights``);
    steps ``n >= tgt_lengths`` (the eos step, padding) are not guided. The result
    is the mean, over heads and the guided steps, of each step's weight-averaged
    penalty, a number in [0, 1].

    Shapes:
        weights (..., B, H, Lq, Lk), tgt_lengths (B,), src_lengths (B,) -> ()
    """
    lq, lk = weights.shape[-2:]
    guide = guided_attention_weights(
        tgt_lengths, src_lengths, lq, lk, g, weights.dtype
    )  # (B, Lq, Lk)
    penalty = (weights * guide[:, None]).sum(-1)  # (..., B, H, Lq)
    steps = tgt_lengths.sum() * weights[..., 0, 0].numel() / len(tgt_lengths)
    return penalty.sum() / steps.clamp(min=1)


def _check_alignment_path(weights) -> None:
    check_floating("weights", weights)
    if weights.dim() < 1 or weights.shape[-1] == 0:
        raise ValueError(
            f"weights must be (..., Lq, Lk) with Lk >= 1, got {fmt_shape(weights)}"
        )


@checked(_check_alignment_path)
def alignment_path(weights: torch.Tensor) -> torch.Tensor:
    """The most-weighted frame of every output step.

    Shapes:
        weights (..., Lq, Lk) -> (..., Lq) long
    """
    return weights.argmax(-1)


def _check_monotonic_share(path, lengths) -> None:
    _check_ints("path", path)
    _check_ints("lengths", lengths)
    if path.dim() != 2 or lengths.shape != path.shape[:1]:
        raise ValueError(
            f"path must be (B, Lq) and lengths (B,): {fmt_shape(path)} vs "
            f"{fmt_shape(lengths)}"
        )
    if len(lengths) and (int(lengths.min()) < 0 or int(lengths.max()) > path.shape[1]):
        raise ValueError(
            f"lengths must be in [0, Lq = {path.shape[1]}], got {lengths.tolist()}"
        )
    if not (lengths >= 2).any():
        raise ValueError("lengths must give at least one row two steps")


@checked(_check_monotonic_share)
def monotonic_share(path: torch.Tensor, lengths: torch.Tensor) -> float:
    """Share of steps whose argmax frame is not before the previous step's.

    Only steps 1 .. length - 1 of each row count (each compared with the one before).

    Shapes:
        path (B, Lq), lengths (B,) -> a float
    """
    step = torch.arange(1, path.shape[1], device=path.device)  # (Lq - 1,)
    counted = step[None] < lengths[:, None]  # (B, Lq - 1)
    forward = path[:, 1:] >= path[:, :-1]
    return (forward & counted).sum().item() / counted.sum().item()


def _check_span_hits(path, spans, factor, memory_mask) -> None:
    check_positive_int("factor", factor)
    for name, t in (("path", path), ("spans", spans), ("memory_mask", memory_mask)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if (
        path.dim() != 2
        or spans.dim() != 3
        or memory_mask.dim() != 2
        or path.shape != spans.shape[:2]
        or spans.shape[-1:] != (2,)
        or memory_mask.shape[0] != path.shape[0]
    ):
        raise ValueError(
            f"path (B, L), spans (B, L, 2) and memory_mask (B, F') must agree: "
            f"{fmt_shape(path)}, {fmt_shape(spans)}, {fmt_shape(memory_mask)}"
        )
    _check_ints("path", path)
    _check_ints("spans", spans)
    check_bool_mask("memory_mask", memory_mask)
    if not memory_mask.any(-1).all():
        raise ValueError("memory_mask must hold a real frame in every row")
    real = spans[..., 0] >= 0
    if not real.any():
        raise ValueError("spans must hold at least one character (start >= 0)")
    if (path[real] < 0).any() or (path[real] >= memory_mask.shape[1]).any():
        raise ValueError(
            f"path must index memory frames, 0 to F' - 1 = {memory_mask.shape[1] - 1}"
        )


@checked(_check_span_hits)
def span_hits(
    path: torch.Tensor, spans: torch.Tensor, factor: int, memory_mask: torch.Tensor
) -> tuple[float, float]:
    """How often the argmax frame overlaps the character's span, and chance.

    Memory frame j covers input frames ``[j * factor, (j + 1) * factor)``; it hits
    character n when that range overlaps the character's ``[start, end)``. Chance is
    the share of real memory frames that overlap it: the hit rate of a frame drawn
    at random. Rows of ``spans`` with start -1 are padding and skipped.

    Shapes:
        path (B, L), spans (B, L, 2), memory_mask (B, F') -> (hit rate, chance)
    """
    real = spans[..., 0] >= 0  # (B, L)
    lo, hi = path * factor, (path + 1) * factor  # (B, L): frames the argmax covers
    hit = (lo < spans[..., 1]) & (hi > spans[..., 0])
    j = torch.arange(memory_mask.shape[1], device=path.device)  # (F',)
    covers = (j[None, None] * factor < spans[..., 1:]) & (
        (j[None, None] + 1) * factor > spans[..., :1]
    )  # (B, L, F')
    covers &= memory_mask[:, None]
    chance = covers.sum(-1) / memory_mask.sum(-1, keepdim=True)  # (B, L)
    return hit[real].float().mean().item(), chance[real].float().mean().item()
