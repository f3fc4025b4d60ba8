"""Adaptive computation over depth: each target position decides how many layers to use.

Chapter 12 builds this, after PonderNet (Banino et al. 2021). After decoder layer
n every position gives a probability lambda_n of halting there, if it has not
halted before. The probability of halting exactly at layer n is

    p_n = lambda_n (1 - lambda_1) ... (1 - lambda_{n-1}),    n < N,

and whatever is left when the last layer N is reached, the remainder
p_N = (1 - lambda_1) ... (1 - lambda_{N-1}), halts there: the p_n sum to 1.
Training minimizes the expected loss sum_n p_n loss_n plus beta times the KL
divergence from p to a geometric prior (halting at each layer with probability
lambda_p), which sets how much depth costs. (Graves's adaptive computation time,
2016, halts deterministically instead: it adds up halting units until they reach
1 - epsilon, and charges the layers used plus the remainder, N + R.)

PonderNet samples the halting layer at inference; here a position halts at the
first layer where its cumulative halting probability reaches a threshold, a
knob for compute against accuracy. :mod:`xattn.ponder` decodes that way, with
the layers above a halted position never computed.

Every layer's output goes through one final layer norm and the generator of the
model, so every layer can predict; the layers are ordinary :class:`xattn.DecoderBlock`
modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xattn.blocks import DecoderBlock
from xattn.checks import (
    check_bool_mask,
    check_floating,
    check_int,
    check_memory_mask,
    check_number,
    check_positive_int,
    check_stream,
    checked,
    fmt_shape,
)

__all__ = [
    "halting_probabilities",
    "halting_layers",
    "geometric_prior",
    "ponder_loss",
    "AdaptiveDecoder",
]


def _check_layers_first(name: str, t: torch.Tensor) -> None:
    """A float tensor (N, ...) of probabilities, N >= 1, every value in [0, 1]."""
    check_floating(name, t)
    if t.dim() < 1 or t.shape[0] < 1:
        raise ValueError(
            f"{name} must be (N, ...) with N >= 1 layers, got {name} {fmt_shape(t)}"
        )
    if not bool(((t >= 0) & (t <= 1)).all()):  # NaN fails both comparisons
        raise ValueError(
            f"{name} must be probabilities, in [0, 1]; {name} {fmt_shape(t)} holds "
            "values outside it or NaN"
        )


def _check_halting_probabilities(lambdas) -> None:
    _check_layers_first("lambdas", lambdas)


@checked(_check_halting_probabilities)
def halting_probabilities(lambdas: torch.Tensor) -> torch.Tensor:
    """The probability of halting at each layer, the remainder at the last one.

    ``lambdas[n]`` is the chance of halting at layer n + 1 given that the position
    has not halted before; the last layer's own lambda is not used, since
    whatever has not halted by then halts there.

    Shapes:
        lambdas (N, ...) -> p (N, ...), summing to 1 over the first axis
    """
    going = torch.cumprod(1 - lambdas, dim=0)  # (N, ...): not halted after layer n
    before = torch.cat([torch.ones_like(going[:1]), going[:-1]])  # not halted before
    return torch.cat([(lambdas * before)[:-1], before[-1:]])  # the last: remainder


def _check_threshold(threshold, positions: tuple[int, ...]) -> None:
    """A number in (0, 1], or a float tensor of them that fits ``positions``."""
    if not isinstance(threshold, torch.Tensor):
        check_number("threshold", threshold, 0.0, 1.0, low_open=True)
        return
    check_floating("threshold", threshold)
    if not bool(((threshold > 0) & (threshold <= 1)).all()):
        raise ValueError("threshold must lie in (0, 1] everywhere (NaN does not)")
    try:
        fits = torch.broadcast_shapes(threshold.shape, positions) == positions
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"threshold {fmt_shape(threshold)} must broadcast to the positions "
            f"{fmt_shape(positions)}, one threshold per position or fewer"
        )


def _check_halting_layers(p, threshold=0.5) -> None:
    _check_layers_first("p", p)
    _check_threshold(threshold, tuple(p.shape[1:]))
    if isinstance(threshold, torch.Tensor) and threshold.device != p.device:
        raise ValueError(
            f"threshold and p must be on one device: threshold {threshold.device} "
            f"vs p {p.device}"
        )


@checked(_check_halting_layers)
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
    reached = p.cumsum(0) >= threshold  # (N, ...)
    reached[-1] = True
    return reached.long().argmax(0) + 1  # the first layer that reaches it, from 1


def _check_geometric_prior(n_layers, rate, like) -> None:
    check_positive_int("n_layers", n_layers)
    check_number("rate", rate, 0.0, 1.0, low_open=True, high_open=True)
    check_floating("like", like)


@checked(_check_geometric_prior)
def geometric_prior(n_layers: int, rate: float, like: torch.Tensor) -> torch.Tensor:
    """PonderNet's prior: halt at each layer with probability ``rate``, truncated.

    Shapes:
        -> prior (N,), summing to 1, in the dtype and on the device of ``like``
    """
    lambdas = torch.full((n_layers,), rate, dtype=like.dtype, device=like.device)
    return halting_probabilities(lambdas)


def _check_ponder_loss(
    logits, p, target, *, beta, prior_rate, deep_supervision=0.0, pad_id=0
) -> None:
    check_floating("logits", logits)
    check_floating("p", p)
    if logits.dim() != 4 or tuple(p.shape) != tuple(logits.shape[:3]):
        raise ValueError(
            "logits must be (N, B, Lq, V) and p (N, B, Lq), got logits "
            f"{fmt_shape(logits)} and p {fmt_shape(p)}"
        )
    if min(logits.shape) == 0:
        raise ValueError(f"logits {fmt_shape(logits)} has a dimension of size 0")
    _check_layers_first("p", p)
    if not isinstance(target, torch.Tensor) or tuple(target.shape) != tuple(
        logits.shape[1:3]
    ):
        got = fmt_shape(target) if isinstance(target, torch.Tensor) else target
        raise ValueError(
            f"target must be (B, Lq) = {fmt_shape(logits.shape[1:3])}, got target {got}"
        )
    v = logits.shape[-1]
    if target.dtype != torch.long or int(target.min()) < 0 or int(target.max()) >= v:
        raise ValueError(
            f"target must hold torch.long ids in [0, V) = [0, {v}), got target of "
            f"dtype {target.dtype} from {target.min().item()} to "
            f"{target.max().item()}"
        )
    check_number("beta", beta, 0.0)
    check_number("prior_rate", prior_rate, 0.0, 1.0, low_open=True, high_open=True)
    check_number("deep_supervision", deep_supervision, 0.0)
    check_int("pad_id", pad_id)
    if not bool((target != pad_id).any()):
        raise ValueError(
            f"target holds only padding (pad_id={pad_id}): the loss averages over "
            "real positions and there are none"
        )


@checked(_check_ponder_loss)
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


def _check_adaptive_decoder(self, d_model, n_heads, d_ff, max_layers) -> None:
    for name, value in dict(
        d_model=d_model, n_heads=n_heads, d_ff=d_ff, max_layers=max_layers
    ).items():
        check_positive_int(name, value)
    if d_model % n_heads:
        raise ValueError(
            f"d_model={d_model} must be divisible by n_heads={n_heads} (each head "
            "gets D / H features)"
        )


def _check_adaptive_call(self, x, memory, memory_mask=None, tgt_mask=None) -> None:
    d = self.norm.normalized_shape[0]
    check_stream("x", x, d)
    check_stream("memory", memory, d)
    if memory.shape[0] != x.shape[0] or 0 in (x.shape[1], memory.shape[1]):
        raise ValueError(
            "x and memory must share the batch size and hold at least one position "
            f"each: x {fmt_shape(x)} vs memory {fmt_shape(memory)}"
        )
    if memory.dtype != x.dtype:
        raise ValueError(
            f"x and memory must share a dtype: x {x.dtype} vs memory {memory.dtype}"
        )
    check_memory_mask(memory_mask, tuple(memory.shape))
    if tgt_mask is not None:
        check_bool_mask("tgt_mask", tgt_mask)
        if tuple(tgt_mask.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"tgt_mask must be (B, Lq) = {fmt_shape(x.shape[:2])}, got tgt_mask "
                f"{fmt_shape(tgt_mask)}"
            )


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

    @checked(_check_adaptive_decoder)
    def __init__(self, d_model: int, n_heads: int, d_ff: int, max_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderBlock(d_model, n_heads, d_ff) for _ in range(max_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.halt = nn.Linear(d_model, 1)

    @checked(_check_adaptive_call)
    def forward(self, x, memory, memory_mask=None, tgt_mask=None):
        states, lambdas = [], []
        for layer in self.layers:
            x = layer(x, memory, memory_mask, tgt_mask)
            states.append(self.norm(x))  # (B, Lq, D)
            lambdas.append(torch.sigmoid(self.halt(states[-1])).squeeze(-1))
        return torch.stack(states), torch.stack(lambdas)


# The ponder model and its decoding live in xattn.ponder, which builds on this
# module; older code imports them from here.
from xattn.ponder import PonderSeq2Seq, ponder_greedy_decode  # noqa: E402, F401
