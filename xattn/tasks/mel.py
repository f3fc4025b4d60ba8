"""Log-mel features: the mel scale, its triangular filter bank, and log band energies.

A waveform becomes frames of log energy in bands equally spaced on the mel scale
(narrow at low frequencies, wide at high ones), computed with ``torch.stft``.

Shapes: T samples, F frames, K frequencies, M mel bands, B batch.
"""

from __future__ import annotations

import torch

from xattn.checks import (
    check_floating,
    check_number,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.tasks.synthesis import SAMPLE_RATE

__all__ = ["HOP", "hz_to_mel", "mel_to_hz", "mel_filterbank", "log_mel"]

#: Samples between feature frames: 10 ms at 8 kHz.
HOP = 80


def _check_scale_value(name: str, value: object) -> None:
    """A finite number >= 0, or a real tensor of them (frequencies, mels)."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name} must be real numbers, got dtype {value.dtype}")
        if not torch.isfinite(value).all() or (value < 0).any():
            raise ValueError(
                f"{name} must be finite and >= 0, got {name} {fmt_shape(value)} with "
                f"values from {value.min().item()} to {value.max().item()}"
            )
    else:
        check_number(name, value, 0.0)


def _check_hz_to_mel(f) -> None:
    _check_scale_value("f", f)


@checked(_check_hz_to_mel)
def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """The mel scale (the HTK formula): ``2595 log10(1 + f / 700)``, in float64.

    Args:
        f: frequencies in Hz, finite and >= 0: a number or a tensor of any shape.
    """
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def _check_mel_to_hz(m) -> None:
    _check_scale_value("m", m)


@checked(_check_mel_to_hz)
def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    """The inverse of :func:`hz_to_mel`: ``700 (10^(m / 2595) - 1)``, in float64.

    Args:
        m: mels, finite and >= 0: a number or a tensor of any shape.
    """
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def _check_mel_filterbank(n_mels, freqs, f_min=0.0, f_max=SAMPLE_RATE / 2) -> None:
    check_positive_int("n_mels", n_mels)
    check_floating("freqs", freqs)
    if freqs.dim() != 1:
        raise ValueError(f"freqs must be (K,), got freqs {fmt_shape(freqs)}")
    if not torch.isfinite(freqs).all():
        raise ValueError(f"freqs must be finite, got freqs {fmt_shape(freqs)}")
    check_number("f_min", f_min, 0.0)
    check_number("f_max", f_max, 0.0)
    if not f_min < f_max:
        raise ValueError(f"need 0 <= f_min < f_max, got f_min={f_min}, f_max={f_max}")


@checked(_check_mel_filterbank)
def mel_filterbank(
    n_mels: int,
    freqs: torch.Tensor,
    f_min: float = 0.0,
    f_max: float = SAMPLE_RATE / 2,
) -> torch.Tensor:
    """Triangular filters equally spaced in mel, evaluated at ``freqs`` (in Hz).

    Filter m rises from the (m)th to the (m+1)th of ``n_mels + 2`` points equally
    spaced in mel between ``f_min`` and ``f_max``, peaks at 1 there, and falls to 0
    at the (m+2)th. Computed in float64, returned in the dtype of ``freqs``.

    Shapes:
        freqs (K,) -> (n_mels, K)
    """
    edges = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1)
    f = freqs.to(torch.float64)[None]  # (1, K)
    rise = (f - lo) / (centre - lo)
    fall = (hi - f) / (hi - centre)
    return torch.minimum(rise, fall).clamp(min=0).to(freqs.dtype)  # (M, K)


def _check_log_mel(
    wave, *, n_mels=40, n_fft=256, win_length=200, hop=HOP, sample_rate=SAMPLE_RATE
) -> None:
    for name, value in (
        ("n_mels", n_mels),
        ("n_fft", n_fft),
        ("win_length", win_length),
        ("hop", hop),
        ("sample_rate", sample_rate),
    ):
        check_positive_int(name, value)
    if win_length > n_fft:
        raise ValueError(f"win_length={win_length} must be <= n_fft={n_fft}")
    check_floating("wave", wave)
    if wave.dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"wave must be float32 or float64 (what torch.stft computes in), got "
            f"{wave.dtype}"
        )
    if wave.dim() not in (1, 2) or wave.shape[-1] < n_fft // 2 + 1:
        raise ValueError(
            f"wave must be (T,) or (B, T) with T > n_fft / 2 = {n_fft // 2}, got wave "
            f"{fmt_shape(wave)}"
        )
    if not torch.isfinite(wave).all():
        raise ValueError(
            f"wave must be finite, got wave {fmt_shape(wave)} with NaN/inf"
        )
    # A filter narrower than the FFT's bin spacing can fall between two bins and
    # see nothing: its band would be log(1e-6) in every frame.
    bins = torch.fft.rfftfreq(n_fft, 1 / sample_rate, dtype=torch.float64)
    empty = (mel_filterbank(n_mels, bins, 0.0, sample_rate / 2).sum(1) == 0).sum()
    if empty:
        raise ValueError(
            f"n_mels={n_mels} is too many for n_fft={n_fft} at sample_rate="
            f"{sample_rate}: {int(empty)} filters cover no FFT bin; use fewer mel "
            "bands or a longer FFT"
        )


@checked(_check_log_mel)
def log_mel(
    wave: torch.Tensor,
    *,
    n_mels: int = 40,
    n_fft: int = 256,
    win_length: int = 200,
    hop: int = HOP,
    sample_rate: int = SAMPLE_RATE,
) -> torch.Tensor:
    """Log mel-band energies of a waveform: ``torch.stft``, power, mel filters, log.

    Frame f is centred on sample ``f * hop`` (a Hann window of ``win_length``,
    25 ms at the defaults); there are ``T // hop + 1`` frames. Float32 or float64,
    as the wave.

    Shapes:
        wave (T,) or (B, T) -> (F, M) or (B, F, M)
    """
    window = torch.hann_window(win_length, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(
        wave, n_fft, hop, win_length, window, center=True, return_complex=True
    )  # (..., n_fft // 2 + 1, F)
    freqs = torch.fft.rfftfreq(n_fft, 1 / sample_rate).to(wave.device, wave.dtype)
    bank = mel_filterbank(n_mels, freqs, 0.0, sample_rate / 2)  # (M, n_fft // 2 + 1)
    power = spec.real**2 + spec.imag**2
    return torch.log(bank @ power + 1e-6).transpose(-1, -2)  # (..., F, M)
