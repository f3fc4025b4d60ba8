"""A trained model with an adaptive decoder, and greedy decoding that really halts.

Chapter 12 trains this: the embeddings, encoder and generator of chapter 8's date
model (:class:`xattn.Seq2Seq`) with an :class:`xattn.AdaptiveDecoder` in place of
its decoder. While training, every position runs every layer (the ponder loss is
an expectation over where it halts). While decoding, :func:`ponder_greedy_decode`
runs each new position's layers one at a time and stops at the first layer where
its cumulative halting probability reaches the threshold; the layers above are
never computed for it. A later position still attends, in those layers, to every
earlier one, so a halted position's state is copied up into the layers it
skipped and only its keys and values are projected there, as CALM (Schuster et
al. 2022) does for a token that exited early.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xattn.adaptive import (
    AdaptiveDecoder,
    _check_threshold,
    halting_probabilities,
)
from xattn.blocks import LayerCache
from xattn.checks import (
    check_bool,
    check_int,
    check_memory_mask,
    check_positive_int,
    check_stream,
    checked,
    fmt_shape,
)
from xattn.decode import greedy_tokens
from xattn.model import Seq2Seq

__all__ = ["PonderSeq2Seq", "PonderCache", "ponder_greedy_decode"]


def _check_ponder_model(self, base, max_layers, *, from_base=True) -> None:
    if not isinstance(base, Seq2Seq):
        raise ValueError(f"base must be an xattn.Seq2Seq, got {type(base).__name__}")
    check_positive_int("max_layers", max_layers)
    check_bool("from_base", from_base)


def _check_ids(self, name: str, ids: object, vocab: str, start: int = 0) -> None:
    """Token ids (B, L) of torch.long, in the vocabulary, that fit the positions."""
    size, max_len = getattr(self.base.cfg, vocab), self.base.cfg.max_len
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        got = f"{fmt_shape(ids)} {ids.dtype}" if isinstance(ids, torch.Tensor) else ids
        raise ValueError(f"{name} must be a (B, L) tensor of torch.long ids, got {got}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise ValueError(
            f"{name} holds ids outside [0, {size}): min {int(ids.min())}, max "
            f"{int(ids.max())}"
        )
    if 0 in ids.shape or start + ids.shape[1] > max_len:
        raise ValueError(
            f"{name} {fmt_shape(ids)} must hold at least one id per row, at "
            f"positions below the model's max_len={max_len} (from {start})"
        )


def _check_decode(self, tgt_in, memory, src_mask) -> None:
    _check_ids(self, "tgt_in", tgt_in, "tgt_vocab_size")
    check_stream("memory", memory, self.base.cfg.d_model)
    if memory.shape[0] != tgt_in.shape[0]:
        raise ValueError(
            f"tgt_in and memory must share the batch size: tgt_in "
            f"{fmt_shape(tgt_in)} vs memory {fmt_shape(memory)}"
        )
    check_memory_mask(src_mask, tuple(memory.shape))


def _check_forward(self, src, tgt_in) -> None:
    _check_ids(self, "src", src, "src_vocab_size")
    _check_ids(self, "tgt_in", tgt_in, "tgt_vocab_size")
    if src.shape[0] != tgt_in.shape[0]:
        raise ValueError(
            f"src and tgt_in must share the batch size: src {fmt_shape(src)} vs "
            f"tgt_in {fmt_shape(tgt_in)}"
        )


def _check_decode_step(self, token, position, src_mask, caches, threshold) -> None:
    check_int("position", position)
    _check_ids(self, "token", token, "tgt_vocab_size", position)
    if token.shape[1] != 1:
        raise ValueError(
            "token must be (B, 1), one token per sentence, got token "
            f"{fmt_shape(token)}"
        )
    n = len(self.decoder.layers)
    if (
        not isinstance(caches, list)
        or len(caches) != n
        or not all(isinstance(c, PonderCache) for c in caches)
    ):
        raise ValueError(
            f"caches must be the list from init_cache, one per layer ({n}), got "
            f"{type(caches).__name__}"
        )
    k = caches[0].cross_kv[0]  # (B, H, Lk, Dh)
    check_memory_mask(src_mask, (k.shape[0], k.shape[2]))
    _check_threshold(threshold, (token.shape[0],))


class PonderCache(LayerCache):
    """A layer's cache whose memory keys and values are projected for a sentence
    only when one of its positions first runs the layer.

    Args:
        memory: the encoder's output (B, Lk, D), kept to project later.
        attn: the layer's cross-attention, whose heads set the cache's shape.
    """

    def __init__(self, memory: torch.Tensor, attn: nn.Module):
        b, lk = memory.shape[:2]
        shape = (b, attn.n_heads, lk, attn.d_head)  # (B, H, Lk, Dh)
        super().__init__((memory.new_zeros(shape), memory.new_zeros(shape)))
        self.memory = memory
        self.ready = torch.zeros(b, dtype=torch.bool, device=memory.device)

    def cross_rows(self, block: nn.Module, rows: torch.Tensor) -> tuple:
        """The memory's keys and values for the sentences ``rows``, (R, H, Lk, Dh)."""
        new = rows[~self.ready[rows]]
        if len(new):
            k, v = block.cross_attn.project_kv(self.memory[new])
            self.cross_kv[0][new], self.cross_kv[1][new] = k, v
            self.ready[new] = True
        return tuple(t[rows] for t in self.cross_kv)


def _run_rows(block, cache, x, rows, src_mask) -> torch.Tensor:
    """Run ``block`` on the sentences ``rows`` only; grow ``cache`` for all of them.

    The other sentences' states pass through unchanged (copied up): only their
    keys and values, which later positions attend to, are projected here.

    Shapes:
        x (B, 1, D), rows (R,) -> the rows' outputs (R, 1, D)
    """
    part = LayerCache(cache.cross_rows(block, rows))
    if cache.self_k is not None:
        part.self_k, part.self_v = cache.self_k[rows], cache.self_v[rows]
    h = x[rows]
    if len(rows):
        h = block(h, None, src_mask[rows], None, part)  # appends the rows' k, v
    others = torch.ones(len(x), dtype=torch.bool, device=x.device)
    others[rows] = False
    k, v = block.self_attn.project_kv(block.sub_self.norm(x[others]))  # (B - R, ...)
    new_k = k.new_empty(len(x), *k.shape[1:])  # (B, H, 1, Dh)
    new_v = v.new_empty(len(x), *v.shape[1:])
    new_k[others], new_v[others] = k, v
    if len(rows):
        new_k[rows], new_v[rows] = part.self_k[:, :, -1:], part.self_v[:, :, -1:]
    cache.append(new_k, new_v)
    return h


class PonderSeq2Seq(nn.Module):
    """A trained model's embeddings, encoder and generator, with an adaptive decoder.

    Args:
        base: the :class:`xattn.Seq2Seq` whose encoder and embeddings are reused
            (shared, not copied; freeze them with ``requires_grad_(False)``).
        max_layers: N, the depth of the new :class:`AdaptiveDecoder`, as wide as
            the base decoder.
        from_base: its first layers (and final norm) start as copies of the base
            decoder's; the rest, if N is larger, start at random.

    Shapes:
        src (B, Lk), tgt_in (B, Lq) -> logits (N, B, Lq, V), p (N, B, Lq)
    """

    @checked(_check_ponder_model)
    def __init__(self, base: Seq2Seq, max_layers: int, *, from_base: bool = True):
        super().__init__()
        cfg = base.cfg
        self.base = base
        self.decoder = AdaptiveDecoder(
            cfg.d_model, cfg.n_heads, cfg.ff_width, max_layers
        )
        if from_base:  # start from what the base decoder already knows
            for mine, theirs in zip(self.decoder.layers, base.decoder.layers):
                mine.load_state_dict(theirs.state_dict())
            self.decoder.norm.load_state_dict(base.decoder.norm.state_dict())

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The base model's encoder: ``(memory, src_mask)``, (B, Lk, D) and (B, Lk)."""
        return self.base.encode(src)

    def _embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = self.base.tgt_embed(tokens) * math.sqrt(self.base.cfg.d_model)
        return self.base.positions(x, start)  # (B, L, D)

    @checked(_check_decode)
    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every layer's logits and the halting probabilities, for every position."""
        tgt_mask = tgt_in != self.base.cfg.pad_id  # (B, Lq)
        states, lambdas = self.decoder(self._embed(tgt_in), memory, src_mask, tgt_mask)
        return self.base.generator(states), halting_probabilities(lambdas)

    @checked(_check_forward)
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor):
        return self.decode(tgt_in, *self.encode(src))

    def init_cache(self, memory: torch.Tensor) -> list[PonderCache]:
        """One cache per layer; a layer projects a sentence's memory keys and values
        the first time one of the sentence's positions runs it."""
        check_stream("memory", memory, self.base.cfg.d_model)
        return [PonderCache(memory, b.cross_attn) for b in self.decoder.layers]

    @checked(_check_decode_step)
    def decode_step(
        self,
        token: torch.Tensor,
        position: int,
        src_mask: torch.Tensor,
        caches: list[PonderCache],
        threshold: float | torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One new position per sentence, each run only up to its halting layer.

        A sentence whose position has halted stops computing: its state is
        copied into the layers above, where only the keys and values that later
        positions attend to are projected from it.

        Returns:
            ``(logits, layers)``: (B, V) read from each sentence's halting layer,
            and that layer, 1 to N (B,).

        Shapes:
            token (B, 1), src_mask (B, Lk), threshold a number or (B,)
        """
        dec, n_layers = self.decoder, len(self.decoder.layers)
        x = self._embed(token, position)  # (B, 1, D)
        b = x.shape[0]
        threshold = torch.as_tensor(threshold, dtype=x.dtype, device=x.device)
        threshold = threshold.expand(b)  # (B,)
        going = torch.ones(b, dtype=torch.bool, device=x.device)  # not halted yet
        halted = torch.zeros(b, dtype=x.dtype, device=x.device)  # P(halted so far)
        layers = torch.full((b,), n_layers, dtype=torch.long, device=x.device)
        logits = x.new_zeros(b, self.base.generator.out_features)
        for n, (block, cache) in enumerate(zip(dec.layers, caches)):
            rows = going.nonzero().squeeze(1)  # the positions still running
            h = _run_rows(block, cache, x, rows, src_mask)  # (R, 1, D)
            x = x.index_copy(0, rows, h)  # the halted keep theirs: copied up
            state = dec.norm(h[:, 0])  # (R, D)
            lam = torch.sigmoid(dec.halt(state))[:, 0]  # (R,)
            halted = halted.index_add(0, rows, lam * (1 - halted[rows]))
            stop = (halted[rows] >= threshold[rows]) | (n == n_layers - 1)
            logits[rows[stop]] = self.base.generator(state[stop])
            layers[rows[stop]] = n + 1
            going[rows[stop]] = False
        return logits, layers


def _check_ponder_greedy_decode(
    model, src, max_len, bos_id, eos_id, threshold=0.5
) -> None:
    if not isinstance(model, PonderSeq2Seq):
        raise ValueError(
            f"model must be an xattn.PonderSeq2Seq, got {type(model).__name__}"
        )
    _check_ids(model, "src", src, "src_vocab_size")
    check_positive_int("max_len", max_len)
    cfg = model.base.cfg
    if max_len > cfg.max_len:
        raise ValueError(
            f"max_len must be in [1, {cfg.max_len}] (the model's max_len), got "
            f"{max_len}"
        )
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        check_int(name, value)
        if value >= cfg.tgt_vocab_size or value == cfg.pad_id:
            raise ValueError(
                f"{name}={value} must be an id of the target vocabulary, [0, "
                f"{cfg.tgt_vocab_size}), other than the padding id {cfg.pad_id}"
            )
    _check_threshold(threshold, (src.shape[0],))


@checked(_check_ponder_greedy_decode)
@torch.no_grad()
def ponder_greedy_decode(
    model: PonderSeq2Seq,
    src: torch.Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    threshold: float | torch.Tensor = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding where each position runs its layers until it halts.

    The tokens follow :func:`xattn.greedy_tokens`' rule, as every greedy decoder
    of the book does: never ``<pad>``, padding after a sentence's ``<eos>``.
    Each position's token is read from the layer where it halts
    (:meth:`PonderSeq2Seq.decode_step`), and the layers above are not computed
    for it. ``threshold`` is one number, or one per sentence (B,), so that
    several thresholds can be decoded in one batch.

    Returns:
        ``(tokens, layers)``: the written ids (B, T) and the layers each written
        position used (0 after its sentence ended), T <= max_len.

    Shapes:
        src (B, Lk), threshold a number or (B,) -> tokens (B, T), layers (B, T)
    """
    memory, src_mask = model.encode(src)
    caches = model.init_cache(memory)
    used = []

    def next_logits(tokens):
        logits, layers = model.decode_step(
            tokens[:, -1:], tokens.shape[1] - 1, src_mask, caches, threshold
        )
        ended = (tokens[:, 1:] == eos_id).any(1)  # (B,): sentences already over
        used.append(layers.masked_fill(ended, 0))
        return logits

    pad_id = model.base.cfg.pad_id
    tokens, _ = greedy_tokens(
        next_logits,
        src.shape[0],
        max_len,
        bos_id=bos_id,
        eos_id=eos_id,
        pad_id=pad_id,
        device=src.device,
    )
    return tokens, torch.stack(used, dim=1)
