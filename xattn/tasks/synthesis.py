"""A small formant synthesizer: one sound per character, with where each one lies.

Every character of a small alphabet (``a``-``z``, ``0``-``9`` and space) is one
sound. The synthesizer is a source-filter model: a glottal pulse train at the
speaker's pitch, or white noise, or both, shaped by resonators. Vowel-like
characters are voiced and get three formants; consonant-like characters are a
band of noise, some of them voiced as well; space is a pause. A speaker scales
every formant and noise band (``tract``: a shorter vocal tract, higher
resonances), sets the pitch and the speaking rate. The waveform comes with the
true (start, end) sample span of every character, so alignments can be scored.

Each sound is stationary (the same spectrum from its start to its end, apart
from a falling, jittered pitch): there is no coarticulation, no words, and the
noise added is white. :mod:`xattn.tasks.speech` speaks digit strings with it.

Shapes: T samples, L characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from xattn.checks import check_int, check_number, checked

__all__ = [
    "ALPHABET",
    "SAMPLE_RATE",
    "Speaker",
    "Phone",
    "PHONES",
    "Utterance",
    "synthesize",
]

#: The characters the synthesizer speaks: lowercase letters, digits and space.
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 "
#: Samples per second (Hz): formants up to 4 kHz, enough for these sounds.
SAMPLE_RATE = 8000
KINDS = ("vowel", "noise", "voiced", "pause")


@dataclass(frozen=True)
class Speaker:
    """Who speaks: pitch in Hz, rate (2 = twice as fast), vocal-tract scale.

    ``tract`` multiplies every formant and noise band: 1.15 is a shorter tract
    (a child's, say) with higher resonances.
    """

    pitch: float = 120.0
    rate: float = 1.0
    tract: float = 1.0

    def __post_init__(self):
        check_number("pitch", self.pitch, 50.0, 400.0)
        check_number("rate", self.rate, 0.5, 2.0)
        check_number("tract", self.tract, 0.7, 1.4)


@dataclass(frozen=True)
class Phone:
    """The sound of one character.

    ``kind`` is ``"vowel"`` (pulses through formant resonators at ``freqs``),
    ``"noise"`` (white noise through one resonator per entry of ``freqs``),
    ``"voiced"`` (both: a buzz under the noise, as in z or v) or ``"pause"``.
    ``ms`` is its length at rate 1.
    """

    kind: str
    freqs: tuple[float, ...]
    ms: float

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.freqs, tuple):
            raise ValueError(f"freqs must be a tuple of Hz, got {self.freqs!r}")
        for f in self.freqs:
            check_number("each of freqs", f, 0.0, SAMPLE_RATE / 2, low_open=True)
        if (self.kind == "pause") != (not self.freqs):
            raise ValueError(
                f"a pause has no freqs and every other kind has some: kind "
                f"{self.kind!r} with freqs {self.freqs}"
            )
        check_number("ms", self.ms, 0.0, 10_000.0, low_open=True)


def _phones() -> dict[str, Phone]:
    formants = {  # F1, F2, F3 in Hz, after Peterson and Barney's adult vowels
        "a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010),
        "o": (570, 840, 2410), "u": (300, 870, 2240), "y": (350, 2000, 2800),
        "w": (330, 700, 2300), "l": (400, 1200, 2700), "r": (450, 1300, 1650),
        "m": (250, 1000, 2200), "n": (250, 1600, 2600),
        # the digits: ten vowel-like sounds far apart in (F1, F2/F1)
        "0": (320, 760, 2300), "1": (280, 2500, 3200), "2": (760, 1200, 2500),
        "3": (500, 1750, 2500), "4": (620, 950, 2600),
    }  # fmt: skip
    noises = {  # centres of the noise bands, in Hz
        "s": (3400,), "f": (1500, 3200), "h": (900, 1700), "c": (2700,),
        "k": (1800,), "p": (700,), "t": (3000,), "q": (1300,), "x": (2200, 3500),
        "5": (600,), "6": (1200,), "7": (2000,), "8": (2900, 3600),
    }  # fmt: skip
    voiced = {
        "z": (3300,), "v": (1400,), "j": (2400,), "g": (1600,), "b": (800,),
        "d": (2600,), "9": (1000, 2500),
    }  # fmt: skip
    phones = {c: Phone("vowel", f, 140.0) for c, f in formants.items()}
    phones |= {c: Phone("noise", f, 110.0) for c, f in noises.items()}
    phones |= {c: Phone("voiced", f, 120.0) for c, f in voiced.items()}
    phones[" "] = Phone("pause", (), 90.0)
    return {c: phones[c] for c in ALPHABET}


#: The sound of every character of :data:`ALPHABET`, a :class:`Phone` each.
PHONES = _phones()


@dataclass(frozen=True)
class Utterance:
    """A waveform and where each of its characters lies in it.

    Shapes:
        wave (T,) float32 in about [-1, 1]; spans (L, 2) long, [start, end) samples
    """

    text: str
    wave: torch.Tensor
    spans: torch.Tensor


def _resonator_gain(
    freqs_hz: np.ndarray, centre: float, bandwidth: float
) -> np.ndarray:
    """|H| of the two-pole resonator 1 / (1 - 2 r cos(theta) z^-1 + r^2 z^-2)."""
    r = math.exp(-math.pi * bandwidth / SAMPLE_RATE)
    c = -2 * r * math.cos(2 * math.pi * centre / SAMPLE_RATE)

    def h(f):  # |1 / (1 + c z^-1 + r^2 z^-2)| at z = exp(2 pi i f / fs)
        z = np.exp(-2j * math.pi * np.asarray(f) / SAMPLE_RATE)
        return np.abs(1 / (1 + c * z + r * r * z * z))

    return h(freqs_hz) / h(centre)  # 1 at the centre frequency


def _segment(phone: Phone, n: int, speaker: Speaker, rng: np.random.Generator):
    """n samples of one phone: source through its filter, with soft edges."""
    if phone.kind == "pause":
        return np.zeros(n)
    n_fft = 1 << (n + 256).bit_length()  # room for the filter's ring-down
    freqs = np.fft.rfftfreq(n_fft, 1 / SAMPLE_RATE)  # (n_fft // 2 + 1,)
    t = np.arange(n) / SAMPLE_RATE
    # The pitch falls a little over each sound and wobbles (jitter), as voices do.
    f0 = speaker.pitch * (1.05 - 0.1 * t / max(t[-1], 1e-9)) * rng.uniform(0.97, 1.03)
    phase = np.cumsum(f0 / SAMPLE_RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # 1 at each glottal closure
    out = np.zeros(n)
    if phone.kind in ("vowel", "voiced"):
        source = np.fft.rfft(pulses, n_fft)
        gain = np.ones_like(freqs)
        if phone.kind == "vowel":
            for k, f in enumerate(phone.freqs):
                centre = f * speaker.tract
                gain *= _resonator_gain(freqs, centre, 60.0 + 0.06 * centre) * (
                    4.0 if k == 0 else 2.0
                )
        else:  # a low buzz under the noise
            gain = _resonator_gain(freqs, 250.0 * speaker.tract, 120.0) * 2.0
        gain /= 1 + (freqs / 1500) ** 2  # the glottal pulse's spectral tilt
        voice = np.fft.irfft(source * gain, n_fft)[:n]
        out += voice / (np.abs(voice).max() + 1e-9)
    if phone.kind in ("noise", "voiced"):
        source = np.fft.rfft(rng.standard_normal(n), n_fft)
        gain = np.zeros_like(freqs)
        for f in phone.freqs:
            centre = min(f * speaker.tract, 0.47 * SAMPLE_RATE)
            gain += _resonator_gain(freqs, centre, 0.25 * centre)
        noise = np.fft.irfft(source * gain, n_fft)[:n]
        weight = 0.6 if phone.kind == "noise" else 0.5
        out += weight * noise / (np.abs(noise).max() + 1e-9)
    ramp = min(n // 4, int(0.015 * SAMPLE_RATE))
    edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)  # raised cosine
    out[:ramp] *= edge
    out[n - ramp :] *= edge[::-1]
    return out


def _check_synthesize(
    text, speaker=None, seed=0, *, snr_db=25.0, lead_ms=(30.0, 80.0)
) -> None:
    if not isinstance(text, str) or not text or set(text) - set(ALPHABET):
        raise ValueError(
            f"text must be a non-empty string over {ALPHABET!r}, got {text!r}"
        )
    if not text.strip():
        raise ValueError(f"text must hold a sound, not only pauses, got {text!r}")
    if speaker is not None and not isinstance(speaker, Speaker):
        raise ValueError(f"speaker must be a Speaker, got {type(speaker).__name__}")
    check_int("seed", seed, 0)
    check_number("snr_db", snr_db, -20.0, 100.0)
    if not isinstance(lead_ms, (tuple, list)) or len(lead_ms) != 2:
        raise ValueError(f"lead_ms must be a pair (low, high) in ms, got {lead_ms!r}")
    for end in lead_ms:
        check_number("each end of lead_ms", end, 0.0, 10_000.0)
    if lead_ms[0] > lead_ms[1]:
        raise ValueError(
            f"lead_ms must be (low, high) with 0 <= low <= high, got {lead_ms}"
        )


@checked(_check_synthesize)
def synthesize(
    text: str,
    speaker: Speaker | None = None,
    seed: int = 0,
    *,
    snr_db: float = 25.0,
    lead_ms: tuple[float, float] = (30.0, 80.0),
) -> Utterance:
    """Speak ``text`` with a formant synthesizer, deterministically from ``seed``.

    Each character is one sound of :data:`PHONES`, lasting its phone's ``ms`` divided
    by the speaker's rate, times a random factor in [0.85, 1.15]. A pause of
    ``lead_ms`` (a random length in that range) comes before and after, and white
    noise at ``snr_db`` below the speech's power is added everywhere.

    Args:
        text: characters of :data:`ALPHABET`, at least one that is not a space.
        speaker: the voice; default ``Speaker()``.
        seed: an int >= 0; the same seed, text and speaker give the same samples.
        snr_db: signal-to-noise ratio of the added noise, in dB, in [-20, 100].
        lead_ms: range of the silence before and after the speech, in ms.

    Shapes:
        -> wave (T,), spans (L, 2) with L = len(text)
    """
    speaker = Speaker() if speaker is None else speaker
    rng = np.random.default_rng(seed)
    lead = [int(rng.uniform(*lead_ms) * SAMPLE_RATE / 1000) for _ in range(2)]
    pieces, spans, at = [np.zeros(lead[0])], [], lead[0]
    for ch in text:
        phone = PHONES[ch]
        n = int(phone.ms / speaker.rate * rng.uniform(0.85, 1.15) * SAMPLE_RATE / 1000)
        pieces.append(_segment(phone, n, speaker, rng))
        spans.append((at, at + n))
        at += n
    pieces.append(np.zeros(lead[1]))
    wave = np.concatenate(pieces)
    power = np.mean(wave[lead[0] : at] ** 2)
    wave = wave + rng.standard_normal(len(wave)) * math.sqrt(
        power / 10 ** (snr_db / 10)
    )
    wave = 0.9 * wave / np.abs(wave).max()
    return Utterance(
        text, torch.tensor(wave, dtype=torch.float32), torch.tensor(spans).long()
    )
