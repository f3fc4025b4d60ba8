"""Int8 weights: symmetric per-channel quantization and a linear layer that uses it.

Symmetric quantization stores a float matrix as int8 numbers and one float scale
per row: ``scale = max |w_row| / 127`` and ``q = round(w / scale)``, clamped to
[-127, 127], so that ``q * scale`` is within ``scale / 2`` of every weight. One
scale per output row (per *channel*) follows each row's own range, which one
scale for the whole matrix would not (Jacob et al. 2018 use one scale and zero
point per tensor; Krishnamoorthi 2018 recommends per-channel weights, which int8
inference libraries use today).

:class:`Int8Linear` keeps a linear layer's weight that way and computes in one
of two ways: ``activations=False`` dequantizes the weight on the fly and
multiplies in float (weight-only int8: a quarter of the weight bytes, the same
arithmetic); ``activations=True`` also rounds each input row to int8 with its
own scale (dynamic, per token) and multiplies the integers exactly into int32
(:func:`int8_matmul`), then scales back. Integer sums are exact, so the
second path gives the same numbers on every machine.
"""

import copy

import torch
from torch import nn

from xattn.checks import check_bool, check_floating, checked, fmt_shape

__all__ = [
    "quantize_per_channel",
    "dequantize_per_channel",
    "int8_matmul",
    "Int8Linear",
    "quantize_model",
    "model_bytes",
]

QMAX = 127  # symmetric: -128 is left out so that q and -q are both representable
EXACT_K = 1040  # off the CPU, float32 sums of K products of 127 * 127 stay exact


def _check_quantize_per_channel(w) -> None:
    check_floating("w", w)
    if w.dim() != 2 or w.shape[1] == 0:
        raise ValueError(
            "w must be a matrix (N, K) with K >= 1, one scale per row, got w "
            f"{fmt_shape(w)}"
        )
    if not bool(torch.isfinite(w).all()):
        raise ValueError(
            f"w {fmt_shape(w)} holds inf or NaN, which no int8 scale can represent"
        )


@checked(_check_quantize_per_channel)
def quantize_per_channel(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Round each row of ``w`` to int8 with its own scale, ``max |row| / 127``.

    A row of zeros gets scale 0 and stays zeros. The rounding error of every
    element is at most half its row's scale.

    Shapes:
        w (N, K) -> q (N, K) int8, scale (N,) in the dtype of w
    """
    scale = w.abs().amax(dim=1) / QMAX  # (N,)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # zero rows stay 0
    q = torch.round(w / safe[:, None]).clamp(-QMAX, QMAX)  # (N, K)
    return q.to(torch.int8), scale


def _check_dequantize_per_channel(q, scale) -> None:
    if not isinstance(q, torch.Tensor) or q.dtype != torch.int8 or q.dim() != 2:
        got = f"{fmt_shape(q)} {q.dtype}" if isinstance(q, torch.Tensor) else type(q)
        raise ValueError(f"q must be an int8 matrix (N, K), got q {got}")
    check_floating("scale", scale)
    if scale.shape != q.shape[:1] or scale.device != q.device:
        raise ValueError(
            "scale must hold one number per row of q, on its device: q "
            f"{fmt_shape(q)} on {q.device} vs scale {fmt_shape(scale)} on "
            f"{scale.device}"
        )
    if not bool(((scale >= 0) & torch.isfinite(scale)).all()):
        raise ValueError("scale must be finite and >= 0 (max |row| / 127)")


@checked(_check_dequantize_per_channel)
def dequantize_per_channel(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float matrix that int8 ``q`` and its row scales stand for: ``q * scale``.

    Shapes:
        q (N, K) int8, scale (N,) -> w (N, K) in the dtype of scale
    """
    return q.to(scale.dtype) * scale[:, None]  # (N, K)


def _check_int8_matmul(a, b) -> None:
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor) or t.dtype != torch.int8 or t.dim() != 2:
            got = f"{fmt_shape(t)} {t.dtype}" if isinstance(t, torch.Tensor) else t
            raise ValueError(f"{name} must be an int8 matrix, got {name} {got}")
    if a.shape[1] != b.shape[1] or a.device != b.device:
        raise ValueError(
            "a (M, K) and b (N, K) must share K and a device: a "
            f"{fmt_shape(a)} on {a.device} vs b {fmt_shape(b)} on {b.device}"
        )
    if a.device.type != "cpu" and a.shape[1] > EXACT_K:
        raise ValueError(
            f"off the CPU the product is summed in float32, exact for K <= "
            f"{EXACT_K}; got K = {a.shape[1]}"
        )


@checked(_check_int8_matmul)
def int8_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The exact integer product of int8 ``a`` and the transpose of int8 ``b``.

    On the CPU this is ``torch._int_mm``: oneDNN's int8 GEMM on x86 CPUs with
    AVX512-VNNI (and AMX where present), otherwise a plain loop. Elsewhere the
    same integers are multiplied in float32, exact while K <= 1040.

    Shapes:
        a (M, K) int8, b (N, K) int8 -> (M, N) int32
    """
    if a.device.type == "cpu":
        return torch._int_mm(a, b.T)  # (M, N) int32
    return (a.float() @ b.float().T).round().to(torch.int32)  # (M, N)


def _check_int8_linear(self, weight_q, scale, bias=None, activations=True) -> None:
    _check_dequantize_per_channel(weight_q, scale)
    if weight_q.shape[1] == 0:
        raise ValueError(f"weight_q {fmt_shape(weight_q)} has no inputs (K = 0)")
    check_bool("activations", activations)
    if bias is not None:
        check_floating("bias", bias)
        if bias.shape != scale.shape or bias.device != scale.device:
            raise ValueError(
                "bias must be (N,) for a weight (N, K), on its device: weight "
                f"{fmt_shape(weight_q)} vs bias {fmt_shape(bias)} on {bias.device}"
            )


def _check_from_linear(cls, linear, activations=True) -> None:
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"linear must be an nn.Linear, got {type(linear).__name__}")
    _check_quantize_per_channel(linear.weight.detach())
    check_bool("activations", activations)


def _check_int8_call(self, x) -> None:
    check_floating("x", x)
    if x.dim() == 0 or x.shape[-1] != self.in_features:
        raise ValueError(
            f"x must be (..., {self.in_features}) for in_features="
            f"{self.in_features}, got x {fmt_shape(x)}"
        )
    if x.device != self.weight_q.device:
        raise ValueError(
            f"x must be on the layer's device {self.weight_q.device}, got {x.device}"
        )
    if self.activations and not bool(torch.isfinite(x).all()):
        raise ValueError(
            f"x {fmt_shape(x)} holds inf or NaN, which no int8 scale can represent"
        )


class Int8Linear(nn.Module):
    """A linear layer whose weight is stored as int8 with one float scale per row.

    Build it from a trained layer with :meth:`from_linear`. The bias stays float.
    The integer product is rescaled in float32 at least, so that half-precision
    inputs cannot overflow.

    Args:
        weight_q: the int8 weight (N, K), from :func:`quantize_per_channel`.
        scale: its row scales (N,).
        bias: the float bias (N,), or None.
        activations: also round each input row to int8 (dynamic, per row) and
            multiply integers with :func:`int8_matmul`; False dequantizes the
            weight and multiplies in float (weight-only int8).

    Shapes:
        x (..., K) -> (..., N)
    """

    @checked(_check_int8_linear)
    def __init__(self, weight_q, scale, bias=None, activations=True):
        super().__init__()
        self.in_features, self.out_features = weight_q.shape[1], weight_q.shape[0]
        self.activations = activations
        self.register_buffer("weight_q", weight_q)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)

    @classmethod
    @checked(_check_from_linear)
    def from_linear(cls, linear: nn.Linear, activations: bool = True) -> "Int8Linear":
        """Quantize a float ``nn.Linear``'s weight, row by row."""
        with torch.no_grad():
            weight_q, scale = quantize_per_channel(linear.weight.detach())
            bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(weight_q, scale, bias, activations)

    @checked(_check_int8_call)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)  # (M, K)
        if self.activations:
            xq, x_scale = quantize_per_channel(rows)  # (M, K) int8, (M,)
            acc = int8_matmul(xq, self.weight_q)  # (M, N) int32, exact
            # in place: on small layers the temporaries cost more than the product
            acc = acc.to(torch.promote_types(x.dtype, torch.float32))
            out = acc.mul_(x_scale[:, None]).mul_(self.scale).to(x.dtype)
        else:
            weight = dequantize_per_channel(self.weight_q, self.scale.to(x.dtype))
            out = rows @ weight.T  # (M, N)
        if self.bias is not None:
            out = out.add_(self.bias.to(x.dtype))
        return out.reshape(*x.shape[:-1], self.out_features)  # (..., N)


def _check_quantize_model(model, activations=True) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    check_bool("activations", activations)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear to quantize")
    for _, linear in linears:
        _check_quantize_per_channel(linear.weight.detach())


@checked(_check_quantize_model)
def quantize_model(model: nn.Module, activations: bool = True) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by an :class:`Int8Linear`.

    The original is untouched. A linear layer that shares its weight with an
    embedding (a tied output layer) gets its own int8 copy; the embedding
    stays float.
    """
    quantized = copy.deepcopy(model)
    linears = [
        (name, m) for name, m in quantized.named_modules() if isinstance(m, nn.Linear)
    ]
    for name, linear in linears:
        parent_name, _, child = name.rpartition(".")
        parent = quantized.get_submodule(parent_name) if parent_name else quantized
        setattr(parent, child, Int8Linear.from_linear(linear, activations))
    return quantized


def _check_model_bytes(model) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")


@checked(_check_model_bytes)
def model_bytes(model: nn.Module) -> int:
    """Bytes of the model's state (parameters and saved buffers), each tensor once.

    Tied weights count once, as a checkpoint stores them once.
    """
    seen: dict[tuple[int, int], int] = {}
    for t in model.state_dict().values():
        seen[(t.untyped_storage().data_ptr(), t.storage_offset())] = (
            t.numel() * t.element_size()
        )
    return sum(seen.values())
