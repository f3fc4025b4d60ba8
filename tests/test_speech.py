"""The speech task: synthesizer, mel features, vocabulary and splits (chapter 15)."""

import math

import pytest
import torch

from xattn.tasks.speech import (
    ALPHABET,
    HOP,
    PHONES,
    SAMPLE_RATE,
    Phone,
    Speaker,
    SpeechTask,
    SpeechVocab,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    synthesize,
)


def test_every_character_has_a_sound_and_the_sounds_differ():
    assert set(PHONES) == set(ALPHABET)
    sounds = [(p.kind, p.freqs) for c, p in PHONES.items()]
    assert len(set(sounds)) == len(sounds)  # no two characters sound the same
    assert PHONES[" "].kind == "pause"


def test_synthesize_is_deterministic_and_spans_tile_the_speech():
    spk = Speaker(pitch=150.0, rate=1.1, tract=0.95)
    a = synthesize("hello 42", spk, seed=3)
    assert torch.equal(a.wave, synthesize("hello 42", spk, seed=3).wave)
    assert not torch.equal(a.wave, synthesize("hello 42", spk, seed=4).wave)
    assert a.wave.dtype == torch.float32 and a.wave.abs().max() <= 0.9 + 1e-6
    assert a.spans.shape == (8, 2)
    assert torch.equal(a.spans[1:, 0], a.spans[:-1, 1])  # one after the other
    assert a.spans[0, 0] > 0 and a.spans[-1, 1] < len(a.wave)  # silence around


def test_a_faster_speaker_is_shorter_and_pitch_shows_in_the_spectrum():
    slow = synthesize("aaaa", Speaker(rate=0.8), seed=0)
    fast = synthesize("aaaa", Speaker(rate=1.6), seed=0)
    speech = lambda u: (u.spans[-1, 1] - u.spans[0, 0]).item()  # noqa: E731
    assert 1.7 < speech(slow) / speech(fast) < 2.3
    for pitch in (100.0, 200.0):
        u = synthesize("a", Speaker(pitch=pitch), seed=0, snr_db=60.0)
        s, e = u.spans[0].tolist()
        spec = torch.fft.rfft(u.wave[s:e] * torch.hann_window(e - s)).abs()
        freqs = torch.fft.rfftfreq(e - s, 1 / SAMPLE_RATE)
        low = (freqs > 0.5 * pitch) & (freqs < 1.5 * pitch)  # around the first harmonic
        f0 = freqs[low][spec[low].argmax()].item()
        assert abs(f0 - pitch) < 0.08 * pitch


def test_formants_move_with_the_vocal_tract():
    def peak(tract):
        u = synthesize("i", Speaker(pitch=100.0, tract=tract), seed=0, snr_db=60.0)
        feats = log_mel(u.wave)  # (F, M)
        upper = feats[:, 20:].mean(0)  # F2 of 'i' sits high
        return upper.argmax().item()

    assert peak(1.15) > peak(0.85)


def test_hz_mel_round_trip_and_known_values():
    f = torch.tensor([0.0, 100.0, 700.0, 1000.0, 4000.0], dtype=torch.float64)
    torch.testing.assert_close(mel_to_hz(hz_to_mel(f)), f)
    assert abs(hz_to_mel(1000.0).item() - 1000.0) < 0.5  # the scale's anchor
    assert abs(hz_to_mel(700.0).item() - 2595 * math.log10(2)) < 1e-9


def test_filter_bank_triangles_peak_at_their_mel_centres():
    grid = torch.linspace(0, 4000, 40001, dtype=torch.float64)  # 0.1 Hz steps
    bank = mel_filterbank(10, grid)
    assert bank.shape == (10, 40001)
    centres = mel_to_hz(torch.linspace(0, hz_to_mel(4000.0).item(), 12))[1:-1]
    torch.testing.assert_close(grid[bank.argmax(1)], centres, atol=0.06, rtol=0)
    torch.testing.assert_close(
        bank.max(1).values, torch.ones(10, dtype=grid.dtype), atol=1e-3, rtol=0
    )
    # Neighbours cross at half height, and between two centres the two filters sum
    # to one.
    between = (grid > centres[3]) & (grid < centres[4])
    pair = bank[3, between] + bank[4, between]
    torch.testing.assert_close(pair, torch.ones_like(pair))
    assert (bank[:, grid > 4000 - 1e-9] == 0).all()


def test_filter_bank_on_fft_bins_has_no_empty_row():
    bank = mel_filterbank(40, torch.fft.rfftfreq(256, 1 / SAMPLE_RATE))
    assert bank.shape == (40, 129) and (bank.sum(1) > 0).all()


@pytest.mark.parametrize("freq", [250.0, 900.0, 2100.0, 3500.0])
def test_a_pure_tone_lands_in_the_bin_whose_centre_is_nearest(freq):
    t = torch.arange(4000) / SAMPLE_RATE
    feats = log_mel(torch.sin(2 * math.pi * freq * t))  # (F, 40)
    assert feats.shape == (4000 // HOP + 1, 40)
    centres = mel_to_hz(torch.linspace(0, hz_to_mel(4000.0).item(), 42))[1:-1]
    want = (hz_to_mel(centres) - hz_to_mel(freq)).abs().argmin().item()
    got = feats[5:-5].mean(0).argmax().item()
    assert abs(got - want) <= 1


def test_log_mel_batches_like_single_waves():
    waves = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0))
    batch = log_mel(waves)
    assert batch.shape == (3, 1000 // HOP + 1, 40)
    torch.testing.assert_close(batch[1], log_mel(waves[1]), atol=1e-4, rtol=1e-4)


def test_vocabulary_round_trip_and_specials():
    vocab = SpeechVocab()
    assert len(vocab) == len(ALPHABET) + 3
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
    ids = vocab.encode("go 42")
    assert vocab.decode([vocab.bos_id, *ids, vocab.eos_id, 5, 6]) == "go 42"


def test_splits_have_disjoint_speakers_and_are_reproducible():
    task = SpeechTask()
    sets = {s: set(task.speakers(s)) for s in task.splits}
    assert len(sets["train"]) == 16 and len(sets["test"]) == len(sets["valid"]) == 4
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["valid"]
    assert not sets["valid"] & sets["test"]
    a = task.examples("test", 5, seed=1)
    b = task.examples("test", 5, seed=1)
    assert [x.text for x in a] == [x.text for x in b]
    assert all(torch.equal(x.wave, y.wave) for x, y in zip(a, b))
    assert {x.speaker for x in a} <= sets["test"]
    train = task.examples("train", 20, seed=1)
    assert {x.speaker for x in train} <= sets["train"]
    assert all(3 <= len(x.text) <= 5 and x.text.isdigit() for x in train)


def test_encode_pads_and_gives_frame_spans():
    task = SpeechTask(words=["red", "blue", "green"])
    examples = task.examples("valid", 4, seed=0)
    batch = task.encode(examples)
    b, f, m = batch.features.shape
    assert (b, m) == (4, 40)
    for i, ex in enumerate(examples):
        n_frames = len(ex.wave) // HOP + 1
        assert batch.feature_mask[i].sum() == n_frames
        text = task.vocab.decode(batch.tgt_out[i].tolist())
        assert text == ex.text and batch.tgt_in[i, 0] == task.vocab.bos_id
        spans = batch.spans[i, : len(ex.text)]
        centres = spans.float() * HOP  # frame f is centred on sample f * HOP
        assert (centres[:, 0] >= ex.spans[:, 0]).all()
        assert (centres[:, 0] - HOP < ex.spans[:, 0]).all()
        assert (batch.spans[i, len(ex.text) :] == -1).all()


def test_the_split_modules_are_the_same_functions():
    import xattn
    from xattn.tasks import mel, synthesis

    assert synthesize is synthesis.synthesize is xattn.synthesize
    assert log_mel is mel.log_mel and HOP == mel.HOP == 80
    assert SAMPLE_RATE == synthesis.SAMPLE_RATE and ALPHABET == synthesis.ALPHABET


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mel_functions_work_in_float32_and_float64(dtype):
    f = torch.tensor([0.0, 440.0, 4000.0], dtype=dtype)
    assert hz_to_mel(f).dtype == torch.float64  # the scale is computed in float64
    torch.testing.assert_close(mel_to_hz(hz_to_mel(f)), f.double())
    bins = torch.fft.rfftfreq(256, 1 / SAMPLE_RATE, dtype=dtype)
    bank = mel_filterbank(40, bins)
    assert bank.dtype == dtype
    torch.testing.assert_close(
        bank.double(), mel_filterbank(40, bins.double()), atol=1e-6, rtol=0
    )
    wave = synthesize("2059", seed=2).wave.to(dtype)
    feats = log_mel(wave)
    assert feats.dtype == dtype
    torch.testing.assert_close(
        feats.double(), log_mel(wave.double()), atol=1e-3, rtol=1e-4
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_encode_computes_the_features_in_the_dtype_asked(dtype):
    task = SpeechTask()
    examples = task.examples("test", 3, seed=2)
    batch = task.encode(examples, dtype=dtype)
    assert batch.features.dtype == dtype and batch.feature_mask.dtype == torch.bool
    reference = task.encode(examples, dtype=torch.float64).features
    torch.testing.assert_close(batch.features.double(), reference, atol=1e-3, rtol=1e-4)


def test_select_draws_utterances_and_crops_the_padding():
    task = SpeechTask()
    batch = task.encode(task.examples("train", 6, seed=3))
    lengths = batch.feature_mask.sum(1)
    idx = torch.tensor([int(lengths.argmin()), int(lengths.argmin())])  # repeats too
    small = batch.select(idx)
    assert len(small) == 2 and small.features.shape[1] == int(lengths.min())
    assert small.feature_mask.all()  # cropped to its longest: no padding column
    n_out = int((small.tgt_out != 0).sum(1).max())
    assert small.tgt_in.shape == small.tgt_out.shape == (2, n_out)
    assert small.spans.shape == (2, n_out - 1, 2)
    i = int(idx[0])
    torch.testing.assert_close(
        small.features[0], batch.features[i, : small.features.shape[1]]
    )
    assert torch.equal(small.tgt_out[0], batch.tgt_out[i, :n_out])
    whole = batch.select(torch.arange(6))
    assert torch.equal(whole.features, batch.features[:, : whole.features.shape[1]])


def test_phones_are_checked_when_made():
    assert PHONES["a"].kind == "vowel" and PHONES[" "].freqs == ()
    with pytest.raises(ValueError, match="kind must be one of"):
        Phone("hum", (100.0,), 50.0)
    with pytest.raises(ValueError, match="a pause has no freqs"):
        Phone("pause", (100.0,), 50.0)
