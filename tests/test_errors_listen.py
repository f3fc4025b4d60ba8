"""Bad calls to chapter 15's modules: each a ValueError naming the argument and rule.

The speech task (xattn.tasks.synthesis, .mel, .speech, .transcripts), the listener
(xattn.listen), its alignment scores (xattn.alignment) and hard monotonic attention
(xattn.monotonic).
"""

import math

import pytest
import torch

from xattn.alignment import (
    alignment_path,
    guided_attention_loss,
    guided_attention_weights,
    monotonic_share,
    span_hits,
)
from xattn.listen import Listener, ListenerConfig, PyramidEncoder, stack_frames
from xattn.monotonic import (
    MonotonicCrossAttention,
    monotonic_alignment,
    monotonic_stops,
)
from xattn.tasks.mel import hz_to_mel, log_mel, mel_filterbank, mel_to_hz
from xattn.tasks.speech import SpeechTask, SpeechVocab
from xattn.tasks.synthesis import Phone, Speaker, synthesize
from xattn.tasks.transcripts import character_error_rate, edit_distance

TASK = SpeechTask()
EXAMPLES = TASK.examples("test", 2, seed=0)
BATCH = TASK.encode(EXAMPLES)
WORDS = SpeechTask(words=["red", "blue"])
MODEL = Listener(ListenerConfig(5)).eval()
ONES = torch.ones(1, 8, dtype=torch.bool)
LONG = torch.tensor([1, 3])

SPEECH = [
    ("text with a capital", lambda: synthesize("Hi"), r"text must be a non-empty"),
    ("empty text", lambda: synthesize(""), r"text must be a non-empty"),
    ("only pauses", lambda: synthesize("   "), r"text must hold a sound"),
    ("text not a str", lambda: synthesize(42), r"text must be a non-empty string"),
    ("speaker a dict", lambda: synthesize("a", {"pitch": 100}), r"must be a Speaker"),
    ("seed negative", lambda: synthesize("a", seed=-1), r"seed must be an int >= 0"),
    ("seed a float", lambda: synthesize("a", seed=1.5), r"seed must be an int >= 0"),
    ("snr a string", lambda: synthesize("a", snr_db="loud"), r"snr_db must be"),
    ("snr nan", lambda: synthesize("a", snr_db=math.nan), r"snr_db must be a finite"),
    ("snr too high", lambda: synthesize("a", snr_db=500), r"snr_db .*\[-20, 100\]"),
    ("lead backwards", lambda: synthesize("a", lead_ms=(50, 10)), r"lead_ms must be"),
    ("lead one number", lambda: synthesize("a", lead_ms=5), r"lead_ms must be a pair"),
    (
        "lead negative",
        lambda: synthesize("a", lead_ms=(-5, 10)),
        r"each end of lead_ms must be a finite number in \[0, 10000\]",
    ),
    ("pitch too high", lambda: Speaker(pitch=1000.0), r"pitch must be .* \[50, 400\]"),
    ("rate zero", lambda: Speaker(rate=0.0), r"rate must be"),
    ("tract nan", lambda: Speaker(tract=float("nan")), r"tract must be"),
    ("phone kind", lambda: Phone("hum", (100.0,), 50.0), r"kind must be one of"),
    ("phone list", lambda: Phone("vowel", [300.0], 50.0), r"freqs must be a tuple"),
    (
        "phone above nyquist",
        lambda: Phone("noise", (5000.0,), 50.0),
        r"each of freqs must be a finite number in \(0, 4000\]",
    ),
    ("vowel without formants", lambda: Phone("vowel", (), 50.0), r"every other kind"),
    ("phone length zero", lambda: Phone("pause", (), 0.0), r"ms must be"),
    ("mel of a negative", lambda: hz_to_mel(-5.0), r"f must be a finite number in"),
    ("mel of a string", lambda: hz_to_mel("440"), r"f must be a finite number"),
    (
        "mel of a negative tensor",
        lambda: hz_to_mel(torch.tensor([100.0, -1.0])),
        r"f must be finite and >= 0, got f \(2,\)",
    ),
    ("mel of bools", lambda: hz_to_mel(torch.tensor([True])), r"f must be real"),
    ("hz of nan", lambda: mel_to_hz(math.nan), r"m must be a finite number"),
    ("mels zero", lambda: mel_filterbank(0, torch.zeros(3)), r"n_mels must be a posit"),
    ("mels float", lambda: mel_filterbank(2.5, torch.zeros(3)), r"n_mels must be a"),
    (
        "freqs 2-d",
        lambda: mel_filterbank(4, torch.zeros(2, 3)),
        r"freqs must be \(K,\), got freqs \(2, 3\)",
    ),
    ("freqs int", lambda: mel_filterbank(4, torch.arange(3)), r"floating-point"),
    (
        "freqs nan",
        lambda: mel_filterbank(4, torch.tensor([1.0, math.nan])),
        r"freqs must be finite",
    ),
    (
        "f_max below f_min",
        lambda: mel_filterbank(4, torch.zeros(3), 500, 100),
        r"f_min",
    ),
    ("f_min negative", lambda: mel_filterbank(4, torch.zeros(3), -1.0), r"f_min must"),
    ("wave 3-d", lambda: log_mel(torch.zeros(1, 2, 500)), r"wave must be \(T,\) or"),
    ("wave too short", lambda: log_mel(torch.zeros(100)), r"T > n_fft / 2 = 128"),
    ("wave of ints", lambda: log_mel(torch.zeros(500, dtype=torch.long)), r"wave must"),
    ("wave in half", lambda: log_mel(torch.zeros(500).half()), r"float32 or float64"),
    (
        "wave with nan",
        lambda: log_mel(torch.full((500,), math.nan)),
        r"wave must be finite",
    ),
    ("window > fft", lambda: log_mel(torch.zeros(500), win_length=300), r"win_length"),
    (
        "sample rate zero",
        lambda: log_mel(torch.zeros(500), sample_rate=0),
        r"sample_rate must be a positive int, got 0",
    ),
    ("hop zero", lambda: log_mel(torch.zeros(500), hop=0), r"hop must be a positive"),
    ("fft zero", lambda: log_mel(torch.zeros(500), n_fft=0), r"n_fft must be a posi"),
    (
        "too many mel bands",
        lambda: log_mel(torch.zeros(500), n_mels=200),
        r"n_mels=200 is too many for n_fft=256 .* filters cover no FFT bin",
    ),
    ("vocab unknown char", lambda: SpeechVocab().encode("A"), r"not in the vocabulary"),
    ("vocab repeated", lambda: SpeechVocab("aa"), r"distinct characters"),
    ("vocab a list", lambda: SpeechVocab(["a", "b"]), r"chars must be a string"),
    ("encode a number", lambda: SpeechVocab().encode(5), r"text must be a str"),
    ("encode bos 1", lambda: SpeechVocab().encode("1", bos=1), r"bos must be True"),
    ("task bad split", lambda: TASK.speakers("dev"), r"split must be one of"),
    ("task n zero", lambda: TASK.examples("train", 0), r"n must be a positive"),
    (
        "task seed negative",
        lambda: TASK.examples("train", 2, seed=-3),
        r"seed must be an int >= 0",
    ),
    ("task lengths", lambda: SpeechTask(min_len=4, max_len=2), r"min_len=4 must be"),
    ("task no speakers", lambda: SpeechTask(n_train_speakers=0), r"n_train_speakers"),
    ("task bad word", lambda: SpeechTask(words=["Red"]), r"words must be non-empty"),
    ("task silent word", lambda: SpeechTask(words=["  "]), r"not a space"),
    ("task one word", lambda: SpeechTask(words="red"), r"words must be a list"),
    ("task snr", lambda: SpeechTask(snr_db="x"), r"snr_db must be a finite"),
    ("task seed", lambda: SpeechTask(seed=-1), r"seed must be an int >= 0"),
    ("encode nothing", lambda: TASK.encode([]), r"non-empty list of SpeechExample"),
    ("encode one", lambda: TASK.encode(EXAMPLES[0]), r"non-empty list"),
    ("encode strings", lambda: TASK.encode(["123"]), r"SpeechExample each, got str"),
    ("encode mels", lambda: TASK.encode(EXAMPLES, n_mels=0), r"n_mels must be a pos"),
    (
        "encode int dtype",
        lambda: TASK.encode(EXAMPLES, dtype=torch.long),
        r"dtype must be torch.float32 or torch.float64",
    ),
    (
        "encode another task's words",
        lambda: TASK.encode(WORDS.examples("test", 1)),
        r"characters .* are not in the vocabulary",
    ),
    ("select floats", lambda: BATCH.select(torch.tensor([0.0])), r"idx must be a non"),
    (
        "select nothing",
        lambda: BATCH.select(torch.tensor([], dtype=torch.long)),
        r"idx",
    ),
    ("select past the end", lambda: BATCH.select(torch.tensor([5])), r"idx must index"),
    ("edit a number", lambda: edit_distance(5, "a"), r"a must be a str, list or tuple"),
    ("edit none", lambda: edit_distance("a", None), r"b must be a str, list or tuple"),
    (
        "cer a string",
        lambda: character_error_rate("ab", ["ab"]),
        r"hyps must be a list",
    ),
    ("cer numbers", lambda: character_error_rate([1], ["a"]), r"hyps must hold str"),
    (
        "cer lengths",
        lambda: character_error_rate(["a"], ["a", "b"]),
        r"as many: 1 vs 2",
    ),
    ("cer empty refs", lambda: character_error_rate([""], [""]), r"at least one char"),
]

ALIGNMENT = [
    (
        "guide g zero",
        lambda: guided_attention_weights(torch.tensor([2]), torch.tensor([3]), 2, 3, 0),
        r"g must be a finite number in \(0, inf\]",
    ),
    (
        "guide lengths too long",
        lambda: guided_attention_weights(torch.tensor([4]), torch.tensor([3]), 2, 3),
        r"lengths must fit in lq=2 and lk=3",
    ),
    (
        "guide lengths shapes",
        lambda: guided_attention_weights(torch.tensor([2]), torch.tensor([3, 3]), 2, 3),
        r"tgt_lengths and src_lengths must be \(B,\) each: \(1,\) vs \(2,\)",
    ),
    (
        "guide float lengths",
        lambda: guided_attention_weights(torch.tensor([2.0]), torch.tensor([3]), 2, 3),
        r"tgt_lengths must be an integer tensor",
    ),
    (
        "guide negative lengths",
        lambda: guided_attention_weights(torch.tensor([-1]), torch.tensor([3]), 2, 3),
        r"lengths must be >= 0",
    ),
    (
        "guide no utterance",
        lambda: guided_attention_weights(
            torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 2, 3
        ),
        r"must be \(B,\) each",
    ),
    (
        "guide lq zero",
        lambda: guided_attention_weights(torch.tensor([0]), torch.tensor([3]), 0, 3),
        r"lq must be a positive int",
    ),
    (
        "guide int dtype",
        lambda: guided_attention_weights(LONG[:1], LONG[1:], 2, 3, dtype=torch.long),
        r"dtype must be a floating-point dtype",
    ),
    (
        "loss batch mismatch",
        lambda: guided_attention_loss(
            torch.zeros(2, 1, 3, 4), torch.tensor([2]), torch.tensor([3])
        ),
        r"B = len\(tgt_lengths\): weights \(2, 1, 3, 4\) vs tgt_lengths \(1,\)",
    ),
    (
        "loss int weights",
        lambda: guided_attention_loss(torch.zeros(1, 1, 3, 4, dtype=torch.long), *LONG),
        r"weights must be a floating-point",
    ),
    (
        "loss frames beyond the map",
        lambda: guided_attention_loss(
            torch.zeros(1, 1, 3, 4), torch.tensor([2]), torch.tensor([9])
        ),
        r"lengths must fit in lq=3 and lk=4",
    ),
    (
        "path of ints",
        lambda: alignment_path(torch.zeros(2, 3, dtype=torch.long)),
        r"weights must be a floating-point",
    ),
    ("path of no frames", lambda: alignment_path(torch.zeros(2, 0)), r"Lk >= 1"),
    (
        "monotonic lengths",
        lambda: monotonic_share(torch.zeros(2, 3, dtype=torch.long), torch.tensor([3])),
        r"path must be \(B, Lq\) and lengths \(B,\): \(2, 3\) vs \(1,\)",
    ),
    (
        "monotonic nothing to count",
        lambda: monotonic_share(torch.zeros(1, 3, dtype=torch.long), torch.tensor([1])),
        r"at least one row two steps",
    ),
    (
        "monotonic float path",
        lambda: monotonic_share(torch.zeros(1, 3), torch.tensor([3])),
        r"path must be an integer tensor",
    ),
    (
        "monotonic lengths past the path",
        lambda: monotonic_share(torch.zeros(1, 3, dtype=torch.long), torch.tensor([5])),
        r"lengths must be in \[0, Lq = 3\]",
    ),
    (
        "span hits shapes",
        lambda: span_hits(
            torch.zeros(1, 3, dtype=torch.long),
            torch.zeros(1, 2, 2, dtype=torch.long),
            4,
            torch.ones(1, 4, dtype=torch.bool),
        ),
        r"must agree: \(1, 3\), \(1, 2, 2\), \(1, 4\)",
    ),
    (
        "span hits factor 0",
        lambda: span_hits(torch.zeros(1, 1), torch.zeros(1, 1, 2), 0, torch.ones(1, 1)),
        r"factor must be a positive int",
    ),
    (
        "span hits float mask",
        lambda: span_hits(LONG[None, :1], LONG[None, None], 4, torch.ones(1, 4)),
        r"memory_mask must be a bool tensor",
    ),
    (
        "span hits path past the frames",
        lambda: span_hits(torch.tensor([[7]]), LONG[None, None], 4, ONES[:, :4]),
        r"path must index memory frames, 0 to F' - 1 = 3",
    ),
    (
        "span hits empty utterance",
        lambda: span_hits(
            torch.tensor([[0]]),
            LONG[None, None],
            4,
            torch.zeros(1, 4, dtype=torch.bool),
        ),
        r"memory_mask must hold a real frame in every row",
    ),
    (
        "span hits float spans",
        lambda: span_hits(torch.tensor([[0]]), torch.ones(1, 1, 2), 4, ONES[:, :4]),
        r"spans must be an integer tensor",
    ),
]

LISTEN = [
    ("config odd width", lambda: ListenerConfig(10, d_model=63), r"d_model=63 must"),
    ("config vocab 0", lambda: ListenerConfig(0), r"vocab_size must be a positive"),
    ("config halvings -1", lambda: ListenerConfig(10, n_halvings=-1), r"n_halvings"),
    ("config pad id", lambda: ListenerConfig(10, pad_id=10), r"pad_id=10 must be <"),
    (
        "config attention",
        lambda: ListenerConfig(10, attention="hard"),
        r"attention must be one of \('soft', 'monotonic'\), got 'hard'",
    ),
    ("listener dict", lambda: Listener({"vocab_size": 3}), r"ListenerConfig"),
    (
        "stack mask shape",
        lambda: stack_frames(torch.zeros(2, 5, 3), torch.ones(2, 4, dtype=torch.bool)),
        r"x must be \(B, F, C\) and mask \(B, F\): x \(2, 5, 3\) vs mask \(2, 4\)",
    ),
    (
        "stack float mask",
        lambda: stack_frames(torch.zeros(2, 5, 3), torch.ones(2, 5)),
        r"mask must be a bool",
    ),
    (
        "stack int frames",
        lambda: stack_frames(torch.zeros(2, 5, 3, dtype=torch.long), ONES[:, :5]),
        r"x must be a floating-point tensor",
    ),
    (
        "encoder wrong mel bins",
        lambda: PyramidEncoder(ListenerConfig(5))(torch.zeros(1, 8, 20), ONES),
        r"n_mels=40 bins, got features \(1, 8, 20\)",
    ),
    (
        "encoder silent utterance",
        lambda: MODEL.encoder(torch.zeros(1, 8, 40), ~ONES),
        r"every utterance needs a real frame",
    ),
    (
        "encoder float64 into a float32 model",
        lambda: MODEL.encoder(torch.zeros(1, 8, 40, dtype=torch.float64), ONES),
        r"features must be in the model's dtype torch.float32, got torch.float64",
    ),
    (
        "decoder ids float",
        lambda: MODEL.decode(
            torch.zeros(1, 3), torch.zeros(1, 2, 64), torch.ones(1, 2, dtype=torch.bool)
        ),
        r"tgt_in must be \(B, Lq\) torch.long",
    ),
    (
        "decoder batch mismatch",
        lambda: MODEL.decode(
            torch.ones(2, 3, dtype=torch.long),
            torch.zeros(1, 2, 64),
            torch.ones(1, 2, dtype=torch.bool),
        ),
        r"share the batch size: tgt_in \(2, 3\) vs memory \(1, 2, 64\)",
    ),
    (
        "decoder id past the vocabulary",
        lambda: MODEL.decode(
            torch.tensor([[1, 9]]), torch.zeros(1, 2, 64), ONES[:, :2]
        ),
        r"tgt_in must be ids in \[0, 5\), got 1 to 9",
    ),
    (
        "decoder memory too narrow",
        lambda: MODEL.decode(torch.tensor([[1]]), torch.zeros(1, 2, 32), ONES[:, :2]),
        r"memory must be \(B, F', 64\) and memory_mask \(B, F'\)",
    ),
    (
        "listener batch mismatch",
        lambda: MODEL(torch.zeros(1, 8, 40), ONES, torch.ones(2, 3, dtype=torch.long)),
        r"share the batch size: tgt_in \(2, 3\) vs features \(1, 8, 40\)",
    ),
    (
        "transcribe bos past the vocabulary",
        lambda: MODEL.transcribe(torch.zeros(1, 8, 40), ONES, bos_id=99, eos_id=2),
        r"bos_id=99 must be an id of the vocabulary \(< 5\) other than pad_id=0",
    ),
    (
        "transcribe eos is pad",
        lambda: MODEL.transcribe(torch.zeros(1, 8, 40), ONES, bos_id=1, eos_id=0),
        r"eos_id=0 must be an id of the vocabulary",
    ),
    (
        "transcribe max_len 0",
        lambda: MODEL.transcribe(torch.zeros(1, 8, 40), ONES, 1, 2, max_len=0),
        r"max_len must be a positive int",
    ),
    (
        "transcribe past the positions",
        lambda: MODEL.transcribe(torch.zeros(1, 8, 40), ONES, 1, 2, max_len=600),
        r"max_len=600 must be < the model's max_len=512",
    ),
]

MONOTONIC = [
    (
        "energies of ints",
        lambda: monotonic_alignment(torch.zeros(2, 3, dtype=torch.long)),
        r"energies must be a floating-point tensor",
    ),
    (
        "energies 1-d",
        lambda: monotonic_alignment(torch.zeros(3)),
        r"energies must have at least 2 dims \(\.\.\., Lq, Lk\)",
    ),
    (
        "energies without frames",
        lambda: monotonic_stops(torch.zeros(2, 0)),
        r"energies must have frames \(Lk >= 1\)",
    ),
    (
        "energies nan",
        lambda: monotonic_alignment(torch.tensor([[0.0, math.nan]])),
        r"energies must be finite or -inf .* got NaN or \+inf",
    ),
    (
        "energies +inf",
        lambda: monotonic_stops(torch.tensor([[0.0, math.inf]])),
        r"energies must be finite or -inf",
    ),
    (
        "layer heads",
        lambda: MonotonicCrossAttention(16, 3),
        r"d_model=16 must be divisible by n_heads=3",
    ),
    (
        "layer noise negative",
        lambda: MonotonicCrossAttention(16, 1, noise=-1.0),
        r"noise must be a finite number in \[0, inf\]",
    ),
    ("layer r nan", lambda: MonotonicCrossAttention(16, 1, r=math.nan), r"r must be"),
    ("layer dropout", lambda: MonotonicCrossAttention(16, 1, 1.5), r"dropout must be"),
]

CASES = SPEECH + ALIGNMENT + LISTEN + MONOTONIC


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_the_cases_have_distinct_names():
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))
