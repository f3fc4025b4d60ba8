"""Adaptive computation over depth: each target position decides how many layers to use.

Chapter 12 builds this, after PonderNet (Banino et al. 2021), itself after
Graves's adaptive computation time (2016). After decoder layer n every position
gives a probability lambda_n of halting there, if it has not halted before. The
probability of halting exactly at layer n is

    p_n = lambda_n (1 - lambda_1) ... (1 - lambda_{n-1}),    n < N,

and whatever is left when the last layer N is reached, the remainder
p_N = (1 - lambda_1) ... (1 - lambda_{N-1}), halts there: the p_n sum to 1.
Training minimizes the expected loss sum_n p_n loss_n plus beta times the KL
divergence from p to a geometric prior (halting at each layer with probability
lambda_p), which sets how much depth costs. At inference a position halts at
the first layer where its cumulative halting probability reaches a threshold,
and reads its prediction from that layer.

Every layer's output goes through one final layer norm and the generator of the
model, so every layer can predict; the layers are ordinary :class:`xattn.DecoderBlock`
modules. While training, every position runs every layer (the loss is an
expectation over where it halts); the layers a position *uses* are the ones its
prediction needs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from xattn.blocks import DecoderBlock
from xattn.checks import (
    check_bool,
    check_floating,
    check_number,
    check_positive_int,
    fmt_shape,
)
from xattn.model import Seq2Seq

__all__ = [
    "halting_probabilities",
    "halting_layers",
    "geometric_prior",
    "ponder_loss",
    "AdaptiveDecoder",
    "PonderSeq2Seq",
    "ponder_greedy_decode",
]


def halting_probabilities(lambdas: torch.Tensor) -> torch.Tensor:
    """The probability of halting at each layer, the remainder at the last one.

    ``lambdas[n]`` is the chance of halting at layer n + 1 given that the position
    has not halted before; the last layer's own lambda is not used, since
    whatever has not halted by then halts there.

    Shapes:
        lambdas (N, ...) -> p (N, ...), summing to 1 over the first axis
    """
    check_floating("lambdas", lambdas)
    if lambdas.dim() < 1 or lambdas.shape[0] < 1:
        raise ValueError(
            f"lambdas must be (N, ...) with N >= 1 layers, got lambdas "
            f"{fmt_shape(lambdas)}"
        )
    if bool(((lambdas < 0) | (lambdas > 1)).any()):
        raise ValueError("lambdas must be probabilities, in [0, 1]")
    going = torch.cumprod(1 - lambdas, dim=0)  # (N, ...): not halted after layer n
    before = torch.cat([torch.ones_like(going[:1]), going[:-1]])  # not halted before
    return torch.cat([(lambdas * before)[:-1], before[-1:]])  # the last: remainder


def _check_threshold(threshold: float | torch.Tensor) -> None:
    if isinstance(threshold, torch.Tensor):
        if not bool(((threshold > 0) & (threshold <= 1)).all()):
            raise ValueError("threshold must lie in (0, 1] everywhere")
    else:
        check_number("threshold", threshold, 0.0, 1.0, low_open=True)


def halting_layers(
    p: torch.Tensor, threshold: float | torch.Tensor = 0.5
) -> torch.Tensor:
    """The layer (1 to N) where the cumulative halting probability reaches a threshold.

    ``threshold=0.5`` halts at the median of each position's halting
    distribution; a smaller threshold halts earlier. The last layer halts
    whatever its rounding. A tensor of thresholds gives one per position.

    Shapes:
        p (N, ...), threshold a number or (...) -> layers (...), int64 in 1..N
    """
    check_floating("p", p)
    if p.dim() < 1 or p.shape[0] < 1:
        raise ValueError(f"p must be (N, ...) with N >= 1 layers, got p {fmt_shape(p)}")
    _check_threshold(threshold)
    reached = p.cumsum(0) >= threshold  # (N, ...)
    reached[-1] = True
    return reached.long().argmax(0) + 1  # the first layer that reaches it, from 1


def geometric_prior(n_layers: int, rate: float, like: torch.Tensor) -> torch.Tensor:
    """PonderNet's prior: halt at each layer with probability ``rate``, truncated.

    Shapes:
        -> prior (N,), summing to 1, in the dtype and on the device of ``like``
    """
    check_positive_int("n_layers", n_layers)
    check_number("rate", rate, 0.0, 1.0, low_open=True, high_open=True)
    lambdas = torch.full((n_layers,), rate, dtype=like.dtype, device=like.device)
    return halting_probabilities(lambdas)


def ponder_loss(
    logits: torch.Tensor,
    p: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float,
    prior_rate: float,
    deep_supervision: float = 0.0,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PonderNet's loss: the expected cross-entropy over halting, plus beta * KL.

    The KL divergence from each position's halting distribution to the geometric
    prior is averaged over the real (non-padding) positions, as the
    cross-entropy is. ``deep_supervision`` adds that weight times every layer's
    cross-entropy, averaged over the layers, so that each layer learns to
    predict whether or not the halting distribution uses it yet.

    Returns:
        ``(loss, expected_layers)``: the scalar loss, and the mean over real
        positions of sum_n n p_n (for logging).

    Shapes:
        logits (N, B, Lq, V), p (N, B, Lq), target (B, Lq) -> two scalars
    """
    check_floating("logits", logits)
    if logits.dim() != 4 or tuple(p.shape) != tuple(logits.shape[:3]):
        raise ValueError(
            "logits must be (N, B, Lq, V) and p (N, B, Lq), got logits "
            f"{fmt_shape(logits)} and p {fmt_shape(p)}"
        )
    if tuple(target.shape) != tuple(logits.shape[1:3]):
        raise ValueError(
            f"target must be (B, Lq) = {fmt_shape(logits.shape[1:3])}, got target "
            f"{fmt_shape(target)}"
        )
    check_number("beta", beta, 0.0)
    check_number("deep_supervision", deep_supervision, 0.0)
    n = logits.shape[0]
    real = target != pad_id  # (B, Lq)
    ce = F.cross_entropy(
        logits.flatten(0, 2), target.expand(n, -1, -1).flatten(), reduction="none"
    ).view(p.shape)  # (N, B, Lq): each layer's loss at each position
    prior = geometric_prior(n, prior_rate, p)[:, None, None]  # (N, 1, 1)
    kl = (p * (p.clamp_min(1e-12).log() - prior.log())).sum(0)  # (B, Lq)
    per_position = (p * ce).sum(0) + beta * kl + deep_supervision * ce.mean(0)
    layers = torch.arange(1, n + 1, dtype=p.dtype, device=p.device)[:, None, None]
    expected = (p * layers).sum(0)  # (B, Lq)
    return per_position[real].mean(), expected[real].mean().detach()


class AdaptiveDecoder(nn.Module):
    """Decoder blocks with a halting unit after each: every layer can be the last.

    Args:
        d_model: width D.
        n_heads: attention heads H.
        d_ff: hidden width of the feed-forward layers.
        max_layers: N, the most layers a position can use.

    Shapes:
        x (B, Lq, D), memory (B, Lk, D), memory_mask (B, Lk), tgt_mask (B, Lq)
        -> states (N, B, Lq, D), each layer's output after the final layer norm;
        lambdas (N, B, Lq), the chance of halting at each layer if not before
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, max_layers: int):
        super().__init__()
        check_positive_int("max_layers", max_layers)
        self.layers = nn.ModuleList(
            DecoderBlock(d_model, n_heads, d_ff) for _ in range(max_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.halt = nn.Linear(d_model, 1)

    def forward(self, x, memory, memory_mask=None, tgt_mask=None):
        states, lambdas = [], []
        for layer in self.layers:
            x = layer(x, memory, memory_mask, tgt_mask)
            states.append(self.norm(x))  # (B, Lq, D)
            lambdas.append(torch.sigmoid(self.halt(states[-1])).squeeze(-1))
        return torch.stack(states), torch.stack(lambdas)


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

    def __init__(self, base: Seq2Seq, max_layers: int, *, from_base: bool = True):
        super().__init__()
        if not isinstance(base, Seq2Seq):
            raise ValueError(
                f"base must be an xattn.Seq2Seq, got {type(base).__name__}"
            )
        cfg = base.cfg
        self.base = base
        self.decoder = AdaptiveDecoder(
            cfg.d_model, cfg.n_heads, cfg.ff_width, max_layers
        )
        check_bool("from_base", from_base)
        if from_base:  # start from what the base decoder already knows
            for mine, theirs in zip(self.decoder.layers, base.decoder.layers):
                mine.load_state_dict(theirs.state_dict())
            self.decoder.norm.load_state_dict(base.decoder.norm.state_dict())

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The base model's encoder: ``(memory, src_mask)``, (B, Lk, D) and (B, Lk)."""
        return self.base.encode(src)

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every layer's logits and the halting probabilities, for every position."""
        base = self.base
        base._check_ids("tgt_in", tgt_in, base.cfg.tgt_vocab_size)
        x = base.tgt_embed(tgt_in) * math.sqrt(base.cfg.d_model)  # (B, Lq, D)
        x = base.positions(x)
        tgt_mask = tgt_in != base.cfg.pad_id  # (B, Lq)
        states, lambdas = self.decoder(x, memory, src_mask, tgt_mask)
        return base.generator(states), halting_probabilities(lambdas)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor):
        return self.decode(tgt_in, *self.encode(src))


@torch.no_grad()
def ponder_greedy_decode(
    model: PonderSeq2Seq,
    src: torch.Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    threshold: float | torch.Tensor = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding where each position reads its token from its halting layer.

    ``threshold`` is one number, or one per sentence (B,), so that several
    thresholds can be decoded in one batch.

    Returns:
        ``(tokens, layers)``: the written ids, padded with ``eos_id`` after the
        first ``eos_id``, and the layers each written position used (0 after
        its sentence ended).

    Shapes:
        src (B, Lk), threshold a number or (B,)
        -> tokens (B, max_len), layers (B, max_len)
    """
    check_positive_int("max_len", max_len)
    _check_threshold(threshold)
    b = src.shape[0]
    rows = torch.arange(b, device=src.device)
    tokens = torch.full((b, 1), bos_id, dtype=torch.long, device=src.device)
    layers = torch.zeros(b, max_len, dtype=torch.long, device=src.device)
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    memory, src_mask = model.encode(src)
    for t in range(max_len):
        logits, p = model.decode(tokens, memory, src_mask)  # (N, B, t + 1, ...)
        chosen = halting_layers(p[:, :, -1], threshold)  # (B,)
        last = logits[chosen - 1, rows, -1]  # (B, V): from each one's halting layer
        nxt = last.argmax(-1).masked_fill(done, eos_id)  # (B,)
        layers[:, t] = chosen.masked_fill(done, 0)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if bool(done.all()):
            break
    out = tokens[:, 1:]
    pad = torch.full((b, max_len - out.shape[1]), eos_id, device=src.device)
    return torch.cat([out, pad], dim=1), layers
