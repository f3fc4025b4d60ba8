"""Spoken digit strings: a task of speakers, splits, padded features and true spans.

``SpeechTask`` speaks digit strings (or words from a list) with speakers of its
own, drawn from its seed, and keeps the speakers of its validation and test
splits out of training. Its utterances come from the formant synthesizer of
:mod:`xattn.tasks.synthesis` and its features are the log-mel frames of
:mod:`xattn.tasks.mel`; both are re-exported here. ``encode`` pads a batch and
turns every character's span in samples into a span in frames.

What does not carry over to real speech: every character is one stationary sound
(no coarticulation, no words), the noise is white at 25 dB, and the held-out
speakers are new settings of pitch, rate and tract inside the training ranges.

Shapes: T samples, F frames, M mel bins, L characters, B batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from xattn.checks import (
    check_bool,
    check_int,
    check_number,
    check_positive_int,
    checked,
)
from xattn.data import CharVocab
from xattn.tasks.mel import HOP, hz_to_mel, log_mel, mel_filterbank, mel_to_hz
from xattn.tasks.synthesis import (
    ALPHABET,
    PHONES,  # noqa: F401  (re-exported; documented in xattn.tasks.synthesis)
    SAMPLE_RATE,  # noqa: F401
    Phone,
    Speaker,
    Utterance,
    synthesize,
)

# ALPHABET, SAMPLE_RATE, PHONES and HOP import from here too; they are documented
# where they are defined (xattn.tasks.synthesis, xattn.tasks.mel).
__all__ = [
    "Speaker",
    "Phone",
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


def _check_vocab(self, chars=ALPHABET) -> None:
    if (
        not isinstance(chars, str)
        or len(set(chars)) != len(chars)
        or set(chars) - set(ALPHABET)
    ):
        raise ValueError(
            f"chars must be a string of distinct characters of {ALPHABET!r}, got "
            f"{chars!r}"
        )


def _check_vocab_encode(self, text, bos=False, eos=False) -> None:
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    missing = set(text) - set(self.stoi)
    if missing:
        raise ValueError(f"characters {sorted(missing)} are not in the vocabulary")
    check_bool("bos", bos)
    check_bool("eos", eos)


class SpeechVocab(CharVocab):
    """Characters to ids and back, with ``<pad>`` 0, ``<bos>`` 1 and ``<eos>`` 2.

    There is no ``<unk>``: encoding a character outside the vocabulary is an error.
    The characters keep the order they are given in; decoding is
    :class:`xattn.CharVocab`'s.
    """

    specials = ("<pad>", "<bos>", "<eos>")

    @checked(_check_vocab)
    def __init__(self, chars: str = ALPHABET):
        self.itos = list(self.specials) + list(chars)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, None

    @property
    def tokens(self) -> list[str]:
        """Every token, its id its index: the three specials, then the characters."""
        return self.itos

    @checked(_check_vocab_encode)
    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of the characters of ``text``, with ``<bos>``/``<eos>`` if asked."""
        return super().encode(text, bos, eos)


@dataclass(frozen=True)
class SpeechExample:
    """One spoken text: who said it, the waveform and each character's span."""

    text: str
    speaker: Speaker
    wave: torch.Tensor
    spans: torch.Tensor


def _check_select(self, idx) -> None:
    if (
        not isinstance(idx, torch.Tensor)
        or idx.dim() != 1
        or not len(idx)
        or idx.is_floating_point()
        or idx.dtype == torch.bool
    ):
        raise ValueError(
            f"idx must be a non-empty (B,) integer tensor of utterances, got {idx!r}"
        )
    n = len(self.features)
    if int(idx.min()) < -n or int(idx.max()) >= n:
        raise ValueError(f"idx must index the {n} utterances, got {idx.tolist()}")


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

    def __len__(self) -> int:
        return len(self.features)

    @checked(_check_select)
    def select(self, idx: torch.Tensor) -> SpeechBatch:
        """The utterances ``idx`` (repeats allowed), cropped to the longest of them:
        a training batch drawn from a pool.

        Shapes:
            idx (B',) long -> a SpeechBatch of B' utterances
        """
        idx = idx.to(self.features.device)
        n_frames = int(self.feature_mask[idx].sum(1).max())
        n_out = int((self.tgt_out[idx] != 0).sum(1).max())  # pad_id is 0
        return SpeechBatch(
            self.features[idx, :n_frames],
            self.feature_mask[idx, :n_frames],
            self.tgt_in[idx, :n_out],
            self.tgt_out[idx, :n_out],
            self.spans[idx, : n_out - 1],
        )


def _check_task(
    self,
    words=None,
    *,
    min_len=3,
    max_len=5,
    n_train_speakers=16,
    n_test_speakers=4,
    snr_db=25.0,
    seed=0,
) -> None:
    check_positive_int("min_len", min_len)
    check_positive_int("max_len", max_len)
    if min_len > max_len:
        raise ValueError(f"min_len={min_len} must be <= max_len={max_len}")
    check_positive_int("n_train_speakers", n_train_speakers)
    check_positive_int("n_test_speakers", n_test_speakers)
    if words is not None:
        if isinstance(words, str):
            raise ValueError(f"words must be a list of strings, not one: {words!r}")
        words = list(words)
        if not words or any(
            not isinstance(w, str) or not w.strip() or set(w) - set(ALPHABET)
            for w in words
        ):
            raise ValueError(
                f"words must be non-empty strings over {ALPHABET!r}, each with a "
                f"sound that is not a space, got {words!r}"
            )
    check_number("snr_db", snr_db, -20.0, 100.0)
    check_int("seed", seed, 0)


def _check_split(self, split) -> None:
    if split not in self.splits:
        raise ValueError(f"split must be one of {self.splits}, got {split!r}")


def _check_examples(self, split, n, seed=0) -> None:
    _check_split(self, split)
    check_positive_int("n", n)
    check_int("seed", seed, 0)


def _check_encode(self, examples, device=None, n_mels=40, dtype=torch.float32):
    if isinstance(examples, SpeechExample) or not examples:
        raise ValueError("examples must be a non-empty list of SpeechExample")
    for i, ex in enumerate(examples):
        if not isinstance(ex, SpeechExample):
            raise ValueError(
                f"examples must be SpeechExample each, got {type(ex).__name__} at {i}"
            )
        _check_vocab_encode(self.vocab, ex.text)
    check_positive_int("n_mels", n_mels)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")


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
        snr_db: noise level of every utterance, in dB below the speech.
        seed: draws the speakers (an int >= 0).
    """

    splits = ("train", "valid", "test")

    @checked(_check_task)
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
        words = None if words is None else list(words)
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

    @checked(_check_split)
    def speakers(self, split: str) -> list[Speaker]:
        """The speakers of a split: ``"train"``, ``"valid"`` or ``"test"``."""
        return list(self._speakers[split])

    @checked(_check_examples)
    def examples(self, split: str, n: int, seed: int = 0) -> list[SpeechExample]:
        """``n`` utterances of the split's speakers, the same for the same seed (an
        int >= 0)."""
        speakers = self.speakers(split)
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

    @checked(_check_encode)
    def encode(
        self,
        examples: Sequence[SpeechExample],
        device: torch.device | str | None = None,
        n_mels: int = 40,
        dtype: torch.dtype = torch.float32,
    ) -> SpeechBatch:
        """Log-mel features, padded, with targets and frame spans (see SpeechBatch).

        The features are computed in ``dtype`` (float32 or float64).
        """
        feats = [log_mel(ex.wave.to(dtype), n_mels=n_mels) for ex in examples]
        b, f_max = len(feats), max(len(f) for f in feats)  # feats: (F_i, M) each
        l_max = max(len(ex.text) for ex in examples) + 1
        features = torch.zeros(b, f_max, n_mels, dtype=dtype)
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
