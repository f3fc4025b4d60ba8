"""Gradient-based attributions: gradient x input and integrated gradients, on the
date model's source embeddings or on any function of a (B, L, D) input."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from xattn.checks import (
    check_bool,
    check_floating,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.explain._truth import check_model, check_token_ids, model_device


def _check_input(name: str, x: object) -> None:
    """A finite (B, L, D) float tensor with no empty dim."""
    check_floating(name, x)
    if x.dim() != 3:
        raise ValueError(f"{name} must be (B, L, D), got {name} {fmt_shape(x)}")
    if x.numel() == 0:
        raise ValueError(f"{name} {fmt_shape(x)} is empty: B, L and D must be >= 1")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite: it holds NaN or inf")


def _check_f(f: object) -> None:
    if not callable(f):
        raise ValueError(
            f"f must be a function of x (B, L, D) -> outputs (B, T), got "
            f"{type(f).__name__}"
        )


def _output_grads(f, x: torch.Tensor) -> torch.Tensor:
    """The gradient of each output f(x)[:, t] w.r.t. x, (B, T, L, D)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = f(x)
        if (
            not isinstance(out, torch.Tensor)
            or out.dim() != 2
            or out.shape[0] != len(x)
            or not out.is_floating_point()
        ):
            got = (
                fmt_shape(out) if isinstance(out, torch.Tensor) else type(out).__name__
            )
            if isinstance(out, torch.Tensor) and not out.is_floating_point():
                got += f" of dtype {out.dtype}, not floating-point"
            raise ValueError(
                f"f must map x (B, L, D) to outputs (B, T): x {fmt_shape(x)} gave {got}"
            )
        if not out.requires_grad:
            raise ValueError(
                "f's outputs do not depend on x through autograd (no gradient to "
                "take): f must compute them from x with torch operations"
            )
        t_max = out.shape[1]
        grads = [
            torch.autograd.grad(
                out[:, t].sum(), x, retain_graph=t < t_max - 1, allow_unused=True
            )[0]
            for t in range(t_max)
        ]
    grads = [torch.zeros_like(x) if g is None else g for g in grads]
    return torch.stack(grads, 1)  # (B, T, L, D)


def _check_gradient_x_input(f, x) -> None:
    _check_f(f)
    _check_input("x", x)


@checked(_check_gradient_x_input)
def gradient_x_input(f: Callable, x: torch.Tensor) -> torch.Tensor:
    """Gradient times input: ``sum_d x[b, l, d] * d f(x)[b, t] / d x[b, l, d]``.

    ``f`` must treat the batch items independently (a model in eval mode does).

    Shapes:
        f: x (B, L, D) -> (B, T); x (B, L, D) -> attributions (B, T, L)
    """
    return (_output_grads(f, x) * x[:, None]).sum(-1)  # (B, T, L)


def _check_path_gradients(f, x, baseline=None, *, steps=32, points_per_call=1) -> None:
    _check_f(f)
    _check_input("x", x)
    if baseline is not None:
        check_floating("baseline", baseline)
        if (
            baseline.shape != x.shape
            or baseline.dtype != x.dtype
            or baseline.device != x.device
        ):
            raise ValueError(
                "baseline must match x in shape, dtype and device: x "
                f"{fmt_shape(x)} {x.dtype} on {x.device} vs baseline "
                f"{fmt_shape(baseline)} {baseline.dtype} on {baseline.device}"
            )
        if not bool(torch.isfinite(baseline).all()):
            raise ValueError("baseline must be finite: it holds NaN or inf")
    check_positive_int("steps", steps)
    check_positive_int("points_per_call", points_per_call)


@checked(_check_path_gradients)
def path_gradients(
    f: Callable,
    x: torch.Tensor,
    baseline: torch.Tensor | None = None,
    *,
    steps: int = 32,
    points_per_call: int = 1,
) -> torch.Tensor:
    """``(x - x') . grad f`` at the points ``x' + (i / steps) (x - x')`` of the path.

    The integrand of :func:`integrated_gradients`, per source position (summed
    over the features). The baseline ``x'`` is zeros unless given.
    ``points_per_call`` path points go to ``f`` at once, stacked along the batch
    (point by point, each a copy of the batch): ``f`` must then accept (k B, L, D).

    Shapes:
        f: x (B, L, D) -> (B, T); x, baseline (B, L, D) -> (steps + 1, B, T, L)
    """
    if baseline is None:
        baseline = torch.zeros_like(x)
    alphas = torch.linspace(0, 1, steps + 1, dtype=x.dtype, device=x.device)
    delta = x - baseline  # (B, L, D)
    out = []
    for chunk in torch.split(alphas, points_per_call):
        points = baseline[None] + chunk[:, None, None, None] * delta  # (k, B, L, D)
        grads = _output_grads(f, points.flatten(0, 1))  # (k B, T, L, D)
        grads = grads.unflatten(0, (len(chunk), len(x)))  # (k, B, T, L, D)
        out.append((grads * delta[None, :, None]).sum(-1))  # (k, B, T, L)
    return torch.cat(out)  # (steps + 1, B, T, L)


def _check_trapezoid(values) -> None:
    check_floating("values", values)
    if values.dim() < 1 or len(values) < 2:
        raise ValueError(
            f"values must hold at least 2 samples along dim 0, got {fmt_shape(values)}"
        )


@checked(_check_trapezoid)
def trapezoid(values: torch.Tensor) -> torch.Tensor:
    """The trapezoid rule on [0, 1] over equally spaced samples along dim 0.

    ``h (v_0 / 2 + v_1 + ... + v_{m-1} + v_m / 2)`` with ``h = 1 / m``.

    Shapes:
        values (m + 1, ...) -> (...)
    """
    m = len(values) - 1
    return (values.sum(0) - (values[0] + values[-1]) / 2) / m


@checked(_check_path_gradients)
def integrated_gradients(
    f: Callable,
    x: torch.Tensor,
    baseline: torch.Tensor | None = None,
    *,
    steps: int = 32,
    points_per_call: int = 1,
) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al. 2017), by the trapezoid rule.

    ``(x - x') . integral_0^1 grad f(x' + a (x - x')) da``, the integral taken
    by :func:`trapezoid` over the ``steps + 1`` points of :func:`path_gradients`.
    An output's attributions add up to ``f(x) - f(x')`` (completeness) up to the
    rule's error: ``O(1 / steps**2)`` for a smooth ``f``, only ``O(1 / steps)``
    across the kinks of a ReLU.

    Shapes:
        f: x (B, L, D) -> (B, T); x, baseline (B, L, D) -> attributions (B, T, L)
    """
    grads = path_gradients(f, x, baseline, steps=steps, points_per_call=points_per_call)
    return trapezoid(grads)  # (B, T, L)


def _check_source_embeddings(model, src) -> None:
    check_model(model)
    check_token_ids("src", src, model.cfg.src_vocab_size, model_device(model))


@checked(_check_source_embeddings)
def source_embeddings(model: nn.Module, src: torch.Tensor) -> torch.Tensor:
    """The model's scaled token embeddings of ``src``, before positions are added.

    Shapes:
        src (B, Lk) -> (B, Lk, D)
    """
    with torch.no_grad():
        return model.src_embed(src) * math.sqrt(model.cfg.d_model)


def _check_target_prob_fn(model, src, tgt_in, tgt_out, *, log=False) -> None:
    _check_source_embeddings(model, src)
    device, vocab = model_device(model), model.cfg.tgt_vocab_size
    check_token_ids("tgt_in", tgt_in, vocab, device)
    check_token_ids("tgt_out", tgt_out, vocab, device)
    if tgt_in.shape != tgt_out.shape or len(tgt_in) != len(src):
        raise ValueError(
            "tgt_in and tgt_out must be (B, Lq) for src (B, Lk): got src "
            f"{fmt_shape(src)}, tgt_in {fmt_shape(tgt_in)}, tgt_out "
            f"{fmt_shape(tgt_out)}"
        )
    check_bool("log", log)


def _check_emb(emb, src: torch.Tensor, model: nn.Module) -> None:
    """What f of :func:`target_prob_fn` takes: k copies of the batch's embeddings."""
    width, dtype = model.cfg.d_model, next(model.parameters()).dtype
    check_floating("emb", emb)
    b, lk = src.shape
    if emb.dim() != 3 or emb.shape[1:] != (lk, width) or not emb.shape[0] % b == 0:
        raise ValueError(
            f"emb must be (k B, Lk, D) for B = {b}, Lk = {lk}, D = {width}, got emb "
            f"{fmt_shape(emb)}"
        )
    if len(emb) == 0:
        raise ValueError(f"emb {fmt_shape(emb)} holds no copy of the batch (k = 0)")
    if emb.dtype != dtype or emb.device != src.device:
        raise ValueError(
            f"emb must be {dtype} on {src.device}, as the model, got emb {emb.dtype} "
            f"on {emb.device}"
        )


@checked(_check_target_prob_fn)
def target_prob_fn(
    model: nn.Module,
    src: torch.Tensor,
    tgt_in: torch.Tensor,
    tgt_out: torch.Tensor,
    *,
    log: bool = False,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(emb)``: the probability (or log-probability) of each target token,
    teacher-forced, the source given as embeddings (:func:`source_embeddings`);
    0 at padded targets. ``emb`` may stack k copies of the batch, (k B, Lk, D).

    Shapes:
        f: emb (k B, Lk, D) -> (k B, Lq)
    """
    src_mask = model.source_mask(src)  # (B, Lk)
    real = tgt_out != model.cfg.pad_id  # (B, Lq)

    def f(emb):
        _check_emb(emb, src, model)
        k = len(emb) // len(src)
        mask, tin, tout = (t.repeat(k, 1) for t in (src_mask, tgt_in, tgt_out))
        memory = model.encoder(model.dropout(model.positions(emb)), mask)
        logits = model.decode(tin, memory, mask)  # (k B, Lq, V)
        logp = logits.log_softmax(-1).gather(-1, tout[..., None])[..., 0]
        return (logp if log else logp.exp()) * real.repeat(k, 1)  # (k B, Lq)

    return f
