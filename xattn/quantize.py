"""Int8 weights: symmetric per-channel quantization and a linear layer that uses it.

Symmetric quantization stores a float matrix as int8 numbers and one float scale
per row: ``scale = max |w_row| / 127`` and ``q = round(w / scale)``, clamped to
[-127, 127], so that ``q * scale`` is within ``scale / 2`` of every weight. One
scale per output row (per *channel*) follows each row's own range, which one
scale for the whole matrix would not (Jacob et al. 2018 quantize activations
per tensor; per-channel weights are what int8 inference libraries use today).

:class:`Int8Linear` keeps a linear layer's weight that way and computes in one
of two ways: ``activations=False`` dequantizes the weight on the fly and
multiplies in float (weight-only int8: a quarter of the weight bytes, the same
arithmetic); ``activations=True`` also rounds each input row to int8 with its
own scale (dynamic, per token) and multiplies the integers with
``torch._int_mm`` into int32, then scales back. Integer sums are exact, so the
second path gives the same numbers on every machine.
"""

import copy

import torch
from torch import nn

from xattn.checks import check_bool, check_floating, fmt_shape

__all__ = [
    "quantize_per_channel",
    "dequantize_per_channel",
    "Int8Linear",
    "quantize_model",
    "model_bytes",
]

QMAX = 127  # symmetric: -128 is left out so that q and -q are both representable


def quantize_per_channel(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Round each row of ``w`` to int8 with its own scale, ``max |row| / 127``.

    A row of zeros gets scale 0 and stays zeros. The rounding error of every
    element is at most half its row's scale.

    Shapes:
        w (N, K) -> q (N, K) int8, scale (N,) in the dtype of w
    """
    check_floating("w", w)
    if w.dim() != 2:
        raise ValueError(
            f"w must be a matrix (N, K), one scale per row, got w {fmt_shape(w)}"
        )
    if not torch.isfinite(w).all():
        raise ValueError(
            f"w {fmt_shape(w)} holds inf or NaN, which no int8 scale can represent"
        )
    scale = w.abs().amax(dim=1) / QMAX  # (N,)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # zero rows stay 0
    q = torch.round(w / safe[:, None]).clamp(-QMAX, QMAX)  # (N, K)
    return q.to(torch.int8), scale


def dequantize_per_channel(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float matrix that int8 ``q`` and its row scales stand for: ``q * scale``.

    Shapes:
        q (N, K) int8, scale (N,) -> w (N, K) in the dtype of scale
    """
    if not isinstance(q, torch.Tensor) or q.dtype != torch.int8 or q.dim() != 2:
        got = f"{fmt_shape(q)} {q.dtype}" if isinstance(q, torch.Tensor) else type(q)
        raise ValueError(f"q must be an int8 matrix (N, K), got q {got}")
    check_floating("scale", scale)
    if scale.shape != q.shape[:1]:
        raise ValueError(
            f"scale must hold one number per row of q: q {fmt_shape(q)} vs scale "
            f"{fmt_shape(scale)}"
        )
    return q.to(scale.dtype) * scale[:, None]  # (N, K)


class Int8Linear(nn.Module):
    """A linear layer whose weight is stored as int8 with one float scale per row.

    Build it from a trained layer with :meth:`from_linear`. The bias stays float.

    Args:
        weight_q: the int8 weight (N, K), from :func:`quantize_per_channel`.
        scale: its row scales (N,).
        bias: the float bias (N,), or None.
        activations: also round each input row to int8 (dynamic, per row) and
            multiply integers with ``torch._int_mm``; False dequantizes the
            weight and multiplies in float (weight-only int8).

    Shapes:
        x (..., K) -> (..., N)
    """

    def __init__(
        self,
        weight_q: torch.Tensor,
        scale: torch.Tensor,
        bias: torch.Tensor | None = None,
        activations: bool = True,
    ):
        super().__init__()
        dequantize_per_channel(weight_q, scale)  # checks the pair
        check_bool("activations", activations)
        if bias is not None:
            check_floating("bias", bias)
            if bias.shape != scale.shape:
                raise ValueError(
                    "bias must be (N,) for a weight (N, K): weight "
                    f"{fmt_shape(weight_q)} vs bias {fmt_shape(bias)}"
                )
        self.in_features, self.out_features = weight_q.shape[1], weight_q.shape[0]
        self.activations = activations
        self.register_buffer("weight_q", weight_q)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear, activations: bool = True) -> "Int8Linear":
        """Quantize a float ``nn.Linear``'s weight, row by row."""
        if not isinstance(linear, nn.Linear):
            raise ValueError(
                f"linear must be an nn.Linear, got {type(linear).__name__}"
            )
        with torch.no_grad():
            weight_q, scale = quantize_per_channel(linear.weight.detach())
            bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(weight_q, scale, bias, activations)

    def extra_repr(self) -> str:
        kind = "int8 x int8" if self.activations else "int8 weights, float products"
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, {kind}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_floating("x", x)
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must be (..., {self.in_features}) for in_features="
                f"{self.in_features}, got x {fmt_shape(x)}"
            )
        rows = x.reshape(-1, self.in_features)  # (M, K)
        if self.activations:
            xq, x_scale = quantize_per_channel(rows)  # (M, K) int8, (M,)
            if x.device.type == "cpu":
                acc = torch._int_mm(xq, self.weight_q.T)  # (M, N) int32, exact
            else:  # the same integers in float: exact while K * 127^2 < 2^24
                acc = xq.float() @ self.weight_q.float().T  # (M, N)
            # in place: on small layers the temporaries cost more than the product
            out = acc.to(x.dtype).mul_(x_scale[:, None]).mul_(self.scale.to(x.dtype))
        else:
            weight = dequantize_per_channel(self.weight_q, self.scale.to(x.dtype))
            out = rows @ weight.T  # (M, N)
        if self.bias is not None:
            out = out.add_(self.bias.to(x.dtype))
        return out.reshape(*x.shape[:-1], self.out_features)  # (..., N)


def quantize_model(model: nn.Module, activations: bool = True) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by an :class:`Int8Linear`.

    The original is untouched. A linear layer that shares its weight with an
    embedding (a tied output layer) gets its own int8 copy; the embedding
    stays float.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    check_bool("activations", activations)
    quantized = copy.deepcopy(model)
    linears = [
        (name, m) for name, m in quantized.named_modules() if isinstance(m, nn.Linear)
    ]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear to quantize")
    for name, linear in linears:
        parent_name, _, child = name.rpartition(".")
        parent = quantized.get_submodule(parent_name) if parent_name else quantized
        setattr(parent, child, Int8Linear.from_linear(linear, activations))
    return quantized


def model_bytes(model: nn.Module) -> int:
    """Bytes of the model's state (parameters and saved buffers), each tensor once.

    Tied weights count once, as a checkpoint stores them once.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    seen: dict[tuple[int, int], int] = {}
    for t in model.state_dict().values():
        seen[(t.untyped_storage().data_ptr(), t.storage_offset())] = (
            t.numel() * t.element_size()
        )
    return sum(seen.values())
