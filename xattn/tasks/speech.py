"""Synthetic speech: a small formant synthesizer, log-mel features, a digit task.

Every character of a small alphabet (``a``-``z``, ``0``-``9`` and space) is one
sound. The synthesizer is a source-filter model: a glottal pulse train at the
speaker's pitch, or white noise, or both, shaped by resonators. Vowel-like
characters are voiced and get three formants; consonant-like characters are a
band of noise, some of them voiced as well; space is a pause. A speaker scales
every formant and noise band (``tract``: a shorter vocal tract, higher
resonances), sets the pitch and the speaking rate. The waveform comes with the
true (start, end) sample span of every character, so alignments can be scored.

``SpeechTask`` speaks digit strings (or words from a list) with speakers of its
own, and keeps the speakers of its test split out of training.

Shapes: T samples, F frames, M mel bins, L characters, B batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from xattn.checks import check_floating, check_number, check_positive_int, fmt_shape
from xattn.data import CharVocab

__all__ = [
    "ALPHABET",
    "SAMPLE_RATE",
    "HOP",
    "Speaker",
    "Phone",
    "PHONES",
    "Utterance",
    "synthesize",
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "log_mel",
    "SpeechVocab",
    "SpeechExample",
    "SpeechBatch",
    "SpeechTask",
]

#: The characters the synthesizer speaks: lowercase letters, digits and space.
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 "
#: Samples per second (Hz): formants up to 4 kHz, enough for these sounds.
SAMPLE_RATE = 8000
#: Samples between feature frames: 10 ms at 8 kHz.
HOP = 80


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
        text: characters of :data:`ALPHABET`, at least one.
        speaker: the voice; default ``Speaker()``.
        seed: the same seed, text and speaker give the same samples.
        snr_db: signal-to-noise ratio of the added noise, in dB.
        lead_ms: range of the silence before and after the speech, in ms.

    Shapes:
        -> wave (T,), spans (L, 2) with L = len(text)
    """
    if not isinstance(text, str) or not text or set(text) - set(ALPHABET):
        raise ValueError(
            f"text must be a non-empty string over {ALPHABET!r}, got {text!r}"
        )
    speaker = Speaker() if speaker is None else speaker
    if not isinstance(speaker, Speaker):
        raise ValueError(f"speaker must be a Speaker, got {type(speaker).__name__}")
    check_number("snr_db", snr_db, -20.0, 100.0)
    if not (0 <= lead_ms[0] <= lead_ms[1]):
        raise ValueError(
            f"lead_ms must be (low, high) with 0 <= low <= high, got {lead_ms}"
        )
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


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """The mel scale (the HTK formula): ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    """The inverse of :func:`hz_to_mel`: ``700 (10^(m / 2595) - 1)``."""
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int,
    freqs: torch.Tensor,
    f_min: float = 0.0,
    f_max: float = SAMPLE_RATE / 2,
) -> torch.Tensor:
    """Triangular filters equally spaced in mel, evaluated at ``freqs`` (in Hz).

    Filter m rises from the (m)th to the (m+1)th of ``n_mels + 2`` points equally
    spaced in mel between ``f_min`` and ``f_max``, peaks at 1 there, and falls to 0
    at the (m+2)th.

    Shapes:
        freqs (K,) -> (n_mels, K)
    """
    check_positive_int("n_mels", n_mels)
    check_floating("freqs", freqs)
    if freqs.dim() != 1:
        raise ValueError(f"freqs must be (K,), got freqs {fmt_shape(freqs)}")
    if not (0 <= f_min < f_max):
        raise ValueError(f"need 0 <= f_min < f_max, got f_min={f_min}, f_max={f_max}")
    edges = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1)
    f = freqs.to(torch.float64)[None]  # (1, K)
    rise = (f - lo) / (centre - lo)
    fall = (hi - f) / (hi - centre)
    return torch.minimum(rise, fall).clamp(min=0).to(freqs.dtype)  # (M, K)


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
    25 ms at the defaults); there are ``T // hop + 1`` frames.

    Shapes:
        wave (T,) or (B, T) -> (F, M) or (B, F, M)
    """
    check_floating("wave", wave)
    if wave.dim() not in (1, 2) or wave.shape[-1] < n_fft // 2 + 1:
        raise ValueError(
            f"wave must be (T,) or (B, T) with T > n_fft / 2 = {n_fft // 2}, got wave "
            f"{fmt_shape(wave)}"
        )
    for name, value in (("n_fft", n_fft), ("win_length", win_length), ("hop", hop)):
        check_positive_int(name, value)
    if win_length > n_fft:
        raise ValueError(f"win_length={win_length} must be <= n_fft={n_fft}")
    window = torch.hann_window(win_length, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(
        wave, n_fft, hop, win_length, window, center=True, return_complex=True
    )  # (..., n_fft // 2 + 1, F)
    freqs = torch.fft.rfftfreq(n_fft, 1 / sample_rate).to(wave.device, wave.dtype)
    bank = mel_filterbank(n_mels, freqs, 0.0, sample_rate / 2)  # (M, n_fft // 2 + 1)
    power = spec.real**2 + spec.imag**2
    return torch.log(bank @ power + 1e-6).transpose(-1, -2)  # (..., F, M)


class SpeechVocab(CharVocab):
    """Characters to ids and back, with ``<pad>`` 0, ``<bos>`` 1 and ``<eos>`` 2.

    There is no ``<unk>``: encoding a character outside the vocabulary is an error.
    The characters keep the order they are given in; decoding is
    :class:`xattn.CharVocab`'s.
    """

    specials = ("<pad>", "<bos>", "<eos>")

    def __init__(self, chars: str = ALPHABET):
        if len(set(chars)) != len(chars) or set(chars) - set(ALPHABET):
            raise ValueError(f"chars must be distinct characters of {ALPHABET!r}")
        self.itos = list(self.specials) + list(chars)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, None

    @property
    def tokens(self) -> list[str]:
        """Every token, its id its index: the three specials, then the characters."""
        return self.itos

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of the characters of ``text``, with ``<bos>``/``<eos>`` if asked."""
        missing = set(text) - set(self.stoi)
        if missing:
            raise ValueError(f"characters {sorted(missing)} are not in the vocabulary")
        return super().encode(text, bos, eos)


@dataclass(frozen=True)
class SpeechExample:
    """One spoken text: who said it, the waveform and each character's span."""

    text: str
    speaker: Speaker
    wave: torch.Tensor
    spans: torch.Tensor


@dataclass(frozen=True)
class SpeechBatch:
    """A padded batch for a listener.

    Shapes:
        features (B, F, M); feature_mask (B, F), True at real frames;
        tgt_in (B, Lq) = bos + text; tgt_out (B, Lq) = text + eos;
        spans (B, Lq - 1, 2): each character's [start, end) in frames, -1 padded
    """

    features: torch.Tensor
    feature_mask: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    spans: torch.Tensor


class SpeechTask:
    """Digit strings (or words from a list) spoken by a crowd of speakers.

    Speakers are drawn once from the task's seed: pitch 85-260 Hz (log-uniform),
    rate 0.8-1.25, tract 0.85-1.15. The first ``n_train_speakers`` speak the
    ``"train"`` split; the ``"valid"`` and ``"test"`` splits each have speakers of
    their own, never heard in training.

    Args:
        words: texts to speak; default None: digit strings of ``min_len`` to
            ``max_len`` digits.
        min_len, max_len: digit-string lengths (ignored with ``words``).
        n_train_speakers, n_test_speakers: speakers of the train split, and of each
            of valid and test.
        snr_db: noise level of every utterance.
        seed: draws the speakers.
    """

    splits = ("train", "valid", "test")

    def __init__(
        self,
        words: Sequence[str] | None = None,
        *,
        min_len: int = 3,
        max_len: int = 5,
        n_train_speakers: int = 16,
        n_test_speakers: int = 4,
        snr_db: float = 25.0,
        seed: int = 0,
    ):
        check_positive_int("min_len", min_len)
        check_positive_int("max_len", max_len)
        if min_len > max_len:
            raise ValueError(f"min_len={min_len} must be <= max_len={max_len}")
        check_positive_int("n_train_speakers", n_train_speakers)
        check_positive_int("n_test_speakers", n_test_speakers)
        if words is not None:
            words = list(words)
            if not words or any(
                not isinstance(w, str) or not w or set(w) - set(ALPHABET) for w in words
            ):
                raise ValueError(f"words must be non-empty strings over {ALPHABET!r}")
        self.words, self.min_len, self.max_len = words, min_len, max_len
        self.snr_db = snr_db
        chars = "0123456789" if words is None else "".join(sorted(set("".join(words))))
        self.vocab = SpeechVocab(chars)
        rng = np.random.default_rng(seed)
        n = n_train_speakers + 2 * n_test_speakers
        pitch = np.exp(rng.uniform(math.log(85), math.log(260), n))
        rate, tract = rng.uniform(0.8, 1.25, n), rng.uniform(0.85, 1.15, n)
        everyone = [
            Speaker(round(float(p), 1), round(float(r), 3), round(float(t), 3))
            for p, r, t in zip(pitch, rate, tract)
        ]
        a, b = n_train_speakers, n_train_speakers + n_test_speakers
        self._speakers = {
            "train": everyone[:a], "valid": everyone[a:b], "test": everyone[b:],
        }  # fmt: skip

    def speakers(self, split: str) -> list[Speaker]:
        """The speakers of a split."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {self.splits}, got {split!r}")
        return list(self._speakers[split])

    def examples(self, split: str, n: int, seed: int = 0) -> list[SpeechExample]:
        """``n`` utterances of the split's speakers, the same for the same seed."""
        speakers = self.speakers(split)
        check_positive_int("n", n)
        offset = {"train": 0, "valid": 1, "test": 2}[split]
        rng = np.random.default_rng([seed, offset])
        out = []
        for _ in range(n):
            if self.words is None:
                length = int(rng.integers(self.min_len, self.max_len + 1))
                text = "".join(str(d) for d in rng.integers(0, 10, length))
            else:
                text = self.words[int(rng.integers(len(self.words)))]
            speaker = speakers[int(rng.integers(len(speakers)))]
            utt = synthesize(
                text, speaker, int(rng.integers(2**31)), snr_db=self.snr_db
            )
            out.append(SpeechExample(text, speaker, utt.wave, utt.spans))
        return out

    def encode(
        self,
        examples: Sequence[SpeechExample],
        device: torch.device | str | None = None,
        n_mels: int = 40,
    ) -> SpeechBatch:
        """Log-mel features, padded, with targets and frame spans (see SpeechBatch)."""
        if not examples:
            raise ValueError("examples must hold at least one SpeechExample")
        feats = [log_mel(ex.wave, n_mels=n_mels) for ex in examples]  # (F_i, M) each
        b, f_max = len(feats), max(len(f) for f in feats)
        l_max = max(len(ex.text) for ex in examples) + 1
        features = torch.zeros(b, f_max, n_mels)
        feature_mask = torch.zeros(b, f_max, dtype=torch.bool)
        tgt_in = torch.full((b, l_max), self.vocab.pad_id)
        tgt_out = torch.full((b, l_max), self.vocab.pad_id)
        spans = torch.full((b, l_max - 1, 2), -1)
        for i, (ex, f) in enumerate(zip(examples, feats)):
            ids = self.vocab.encode(ex.text)
            features[i, : len(f)] = f
            feature_mask[i, : len(f)] = True
            tgt_in[i, : len(ids) + 1] = torch.tensor([self.vocab.bos_id, *ids])
            tgt_out[i, : len(ids) + 1] = torch.tensor([*ids, self.vocab.eos_id])
            # Frame f is centred on sample f * HOP: those centred inside the span.
            start = (ex.spans[:, 0] + HOP - 1) // HOP
            end = (ex.spans[:, 1] + HOP - 1) // HOP
            spans[i, : len(ids)] = torch.stack([start, end], -1)
        return SpeechBatch(
            *(t.to(device) for t in (features, feature_mask, tgt_in, tgt_out, spans))
        )
