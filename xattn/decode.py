"""Writing the output: greedy decoding and beam search, with or without caches.

With ``use_cache=True`` each decoder block's cross-attention keys and values
are projected from the memory once per sentence, and the self-attention keys
and values of the tokens written so far are kept and grown by one position per
step. Without the cache, every step runs the decoder over the whole prefix and
projects the memory again in every block: the same numbers, much more work.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from xattn.checks import (
    check_bool,
    check_int,
    check_number,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.model import Seq2Seq

__all__ = ["greedy_decode", "greedy_tokens", "beam_search"]


def _check_decode_args(
    model: Seq2Seq,
    src: torch.Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    use_cache: bool,
) -> None:
    if not isinstance(model, Seq2Seq):
        raise ValueError(f"model must be an xattn.Seq2Seq, got {type(model).__name__}")
    if not isinstance(src, torch.Tensor) or src.dim() != 2:
        got = fmt_shape(src) if isinstance(src, torch.Tensor) else type(src).__name__
        raise ValueError(f"src must be (B, Lk) token ids, got {got}")
    if src.dtype != torch.long:
        raise ValueError(
            f"src must be a (B, L) tensor of torch.long token ids, got "
            f"{fmt_shape(src)} {src.dtype}"
        )
    vocab = model.cfg.src_vocab_size
    if src.numel() and (int(src.min()) < 0 or int(src.max()) >= vocab):
        raise ValueError(
            f"src holds ids outside [0, {vocab}): min {int(src.min())}, max "
            f"{int(src.max())}"
        )
    check_positive_int("max_len", max_len)
    if max_len > model.cfg.max_len:
        raise ValueError(
            f"max_len must be in [1, {model.cfg.max_len}] (the model's max_len), got "
            f"{max_len}"
        )
    vocab = model.cfg.tgt_vocab_size
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        if name == "eos_id" and value is None:
            continue  # no end token: write max_len tokens
        check_int(name, value)
        if value >= vocab:
            raise ValueError(
                f"{name}={value} is not an id of the target vocabulary, [0, {vocab})"
            )
        if value == model.cfg.pad_id:
            raise ValueError(
                f"{name}={value} is the padding id, which decoding never writes"
            )
    check_bool("use_cache", use_cache)


def _pad_after_eos(out: torch.Tensor, eos_id: int | None, pad_id: int) -> torch.Tensor:
    """Replace everything after each row's first ``<eos>`` by padding."""
    if eos_id is None:
        return out
    is_eos = (out == eos_id).long()
    return out.masked_fill(is_eos.cumsum(1) - is_eos > 0, pad_id)


def _next_logits(model, tokens, memory, src_mask, caches):
    """Logits for the position after ``tokens``; with caches only the last is fed."""
    if caches is not None:
        position = tokens.shape[1] - 1
        return model.decode_step(tokens[:, -1:], position, src_mask, caches)  # (B, V)
    return model.decode(tokens, memory, src_mask)[:, -1]  # (B, V)


def _check_greedy_decode(
    model, src, max_len=16, *, bos_id=1, eos_id=2, use_cache=True
) -> None:
    _check_decode_args(model, src, max_len, bos_id, eos_id, use_cache)


@checked(_check_greedy_decode)
@torch.no_grad()
def greedy_decode(
    model: Seq2Seq,
    src: torch.Tensor,
    max_len: int = 16,
    *,
    bos_id: int = 1,
    eos_id: int | None = 2,
    use_cache: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write the most likely next token, step by step, until every sentence has ended.

    The padding token is never written. Positions after a sentence's ``<eos>``
    are returned as padding. With ``eos_id=None`` nothing ends a sentence, and
    ``max_len`` tokens are written (for timing and for tests).

    Returns:
        ``(tokens, logits)``: (B, T) ids without ``<bos>``, and the (B, T, V)
        logits each token was chosen from, with T <= max_len.
    """
    memory, src_mask = model.encode(src)
    caches = model.init_cache(memory) if use_cache else None
    return greedy_tokens(
        lambda tokens: _next_logits(model, tokens, memory, src_mask, caches),
        src.shape[0],
        max_len,
        bos_id=bos_id,
        eos_id=eos_id,
        pad_id=model.cfg.pad_id,
        device=src.device,
    )


def _check_greedy_tokens(next_logits, batch, max_len) -> None:
    if not callable(next_logits):
        raise ValueError(f"next_logits must be a function, got {next_logits!r}")
    check_positive_int("batch", batch)
    check_positive_int("max_len", max_len)


@torch.no_grad()
def greedy_tokens(
    next_logits: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    max_len: int,
    *,
    bos_id: int,
    eos_id: int | None,
    pad_id: int,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The greedy loop of :func:`greedy_decode`, for any decoder.

    ``next_logits(tokens)`` gives the logits of the position after ``tokens``
    (``<bos>`` first); the captioner and the listener of chapters 14 and 15 pass
    their own decoders. The padding token is never written, positions after a
    sentence's ``<eos>`` are returned as padding, and the loop stops once every
    sentence has ended (never, with ``eos_id=None``).

    Shapes:
        next_logits: tokens (B, t) -> (B, V); returns tokens (B, T) without
        ``<bos>`` and their logits (B, T, V), T <= max_len
    """
    # Checked here rather than by @checked: inside a checked call the xattn functions
    # that a caller's next_logits runs would skip their own checks.
    _check_greedy_tokens(next_logits, batch, max_len)
    tokens = torch.full((batch, 1), bos_id, dtype=torch.long, device=device)  # (B, 1)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    all_logits = []
    for _ in range(max_len):
        logits = next_logits(tokens)  # (B, V)
        logits[:, pad_id] = float("-inf")
        all_logits.append(logits)
        next_token = logits.argmax(-1)  # (B,)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        if eos_id is not None:
            finished |= next_token == eos_id
            if bool(finished.all()):
                break
    # (B, T), without <bos>
    out = _pad_after_eos(tokens[:, 1:], eos_id, pad_id)
    return out, torch.stack(all_logits, dim=1)


def _check_beam_search(
    model,
    src,
    beam_size=4,
    max_len=16,
    *,
    bos_id=1,
    eos_id=2,
    length_penalty=0.6,
    use_cache=True,
) -> None:
    _check_decode_args(model, src, max_len, bos_id, eos_id, use_cache)
    check_positive_int("beam_size", beam_size)
    check_number("length_penalty", length_penalty, 0.0)


@checked(_check_beam_search)
@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: torch.Tensor,
    beam_size: int = 4,
    max_len: int = 16,
    *,
    bos_id: int = 1,
    eos_id: int | None = 2,
    length_penalty: float = 0.6,
    use_cache: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``beam_size`` best prefixes of every sentence at every step.

    Finished hypotheses are ranked by log-probability divided by the length
    penalty ((5 + length) / 6) ** alpha of Wu et al. (2016). With
    ``eos_id=None`` every hypothesis runs to ``max_len`` tokens.

    Returns:
        ``(tokens, scores)``: the best hypothesis per sentence (B, T), padded after
        ``<eos>``, and its penalized score (B,).
    """
    b, k = src.shape[0], beam_size
    memory, src_mask = model.encode(src)
    memory = memory.repeat_interleave(k, dim=0)  # (B*K, Lk, D)
    src_mask = src_mask.repeat_interleave(k, dim=0)  # (B*K, Lk)
    # All beams of one sentence share its memory, so the cross-attention cache never
    # needs reordering.
    caches = model.init_cache(memory) if use_cache else None
    tokens = torch.full((b * k, 1), bos_id, dtype=torch.long, device=src.device)
    scores = torch.full((b, k), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # one live beam at the start, not K copies of it
    finished = torch.zeros(b, k, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(b, k, device=src.device)
    for _ in range(max_len):
        logits = _next_logits(model, tokens, memory, src_mask, caches)  # (B*K, V)
        logits[:, model.cfg.pad_id] = float("-inf")
        logp = logits.float().log_softmax(-1).view(b, k, -1)  # (B, K, V)
        vocab = logp.shape[-1]
        if eos_id is not None:
            # A finished beam may only extend itself with <eos>, at no cost.
            done = torch.full_like(logp, float("-inf"))
            done[..., eos_id] = 0.0
            logp = torch.where(finished[..., None], done, logp)
        candidates = (scores[..., None] + logp).view(b, k * vocab)  # (B, K * V)
        top, flat = candidates.topk(k, dim=-1)  # (B, K)
        beam, token = flat // vocab, flat % vocab  # the beam each survivor extends, how
        offsets = torch.arange(b, device=src.device)[:, None] * k  # (B, 1)
        rows = (beam + offsets).view(-1)  # (B*K,)
        tokens = torch.cat([tokens[rows], token.view(-1, 1)], dim=1)
        if caches is not None:
            for cache in caches:
                cache.self_k, cache.self_v = cache.self_k[rows], cache.self_v[rows]
        was_finished = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was_finished).float()
        if eos_id is not None:
            was_finished = was_finished | (token == eos_id)
        finished = was_finished
        scores = top
        if bool(finished.all()):
            break
    penalized = scores / ((5.0 + lengths) / 6.0) ** length_penalty  # (B, K)
    best = penalized.argmax(-1)  # (B,)
    rows = best + torch.arange(b, device=src.device) * k
    out = _pad_after_eos(tokens[rows, 1:], eos_id, model.cfg.pad_id)  # (B, T)
    return out, penalized.gather(1, best[:, None])[:, 0]
