"""The listener: pyramidal encoder, edit distance, alignment scores (chapter 15)."""

import functools
import itertools
from pathlib import Path

import pytest
import torch
from test_exercise_rules import exercise_cells as chapter_exercise_cells
from torch.utils.flop_counter import FlopCounterMode

import xattn
from xattn.listen import (
    Listener,
    ListenerConfig,
    PyramidEncoder,
    alignment_path,
    character_error_rate,
    edit_distance,
    guided_attention_loss,
    guided_attention_weights,
    monotonic_share,
    span_hits,
    stack_frames,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_stack_frames_pairs_neighbours_and_pads_odd_lengths():
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out, out_mask = stack_frames(x, mask)
    assert out.shape == (2, 3, 6) and out_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    torch.testing.assert_close(out[0, 1], torch.cat([x[0, 2], x[0, 3]]))
    torch.testing.assert_close(out[0, 2], torch.cat([x[0, 4], torch.zeros(3)]))
    torch.testing.assert_close(out[1, 1], torch.cat([x[1, 2], torch.zeros(3)]))


@pytest.mark.parametrize("frames", [1, 7, 8, 9, 63, 64, 65])
def test_three_halvings_give_ceil_of_an_eighth(frames):
    cfg = ListenerConfig(13)
    enc = PyramidEncoder(cfg).eval()
    feats = torch.randn(2, frames, 40, generator=gen(0))
    mask = torch.ones(2, frames, dtype=torch.bool)
    memory, memory_mask = enc(feats, mask)
    assert memory.shape == (2, -(-frames // 8), 64) and memory_mask.all()


def test_padding_does_not_change_the_encoding_of_real_frames():
    torch.manual_seed(0)
    enc = PyramidEncoder(ListenerConfig(13)).eval()
    feats = torch.randn(1, 20, 40, generator=gen(1))
    mask = torch.ones(1, 20, dtype=torch.bool)
    padded = torch.cat([feats, 5 * torch.randn(1, 12, 40, generator=gen(2))], 1)
    pmask = torch.cat([mask, torch.zeros(1, 12, dtype=torch.bool)], 1)
    a, _ = enc(feats, mask)
    b, bmask = enc(padded, pmask)
    assert bmask[0].sum() == 3
    torch.testing.assert_close(a, b[:, :3], atol=1e-5, rtol=1e-5)


def test_the_pyramid_divides_the_cross_attention_cost_by_eight():
    def cross_flops(n_halvings, frames=96):
        torch.manual_seed(0)
        model = Listener(ListenerConfig(13, n_halvings=n_halvings)).eval()
        feats = torch.randn(2, frames, 40, generator=gen(0))
        mask = torch.ones(2, frames, dtype=torch.bool)
        tgt = torch.ones(2, 6, dtype=torch.long)
        memory, memory_mask = model.encoder(feats, mask)
        with FlopCounterMode(display=False) as counter:
            model.decoder.layers[0].cross_attn(
                torch.randn(2, 6, 64), memory, memory_mask
            )
        del tgt
        return counter.get_total_flops(), memory.shape[1]

    full, lk_full = cross_flops(0)
    small, lk_small = cross_flops(3)
    assert (lk_full, lk_small) == (96, 12)
    assert full == xattn.attention_flops(2, 6, 96, 64)["total"]
    assert small == xattn.attention_flops(2, 6, 12, 64)["total"]
    scores = lambda lk: sum(  # noqa: E731
        xattn.attention_flops(2, 6, lk, 64)[k] for k in ("scores", "aggregate")
    )
    assert scores(96) == 8 * scores(12)


def test_listener_logits_and_transcribe_shapes():
    torch.manual_seed(0)
    model = Listener(ListenerConfig(13)).eval()
    feats = torch.randn(3, 50, 40, generator=gen(0))
    mask = torch.ones(3, 50, dtype=torch.bool)
    logits = model(feats, mask, torch.ones(3, 4, dtype=torch.long))
    assert logits.shape == (3, 4, 13)
    out = model.transcribe(feats, mask, bos_id=1, eos_id=2, max_len=5)
    assert len(out) == 3 and all(len(o) <= 5 and 0 not in o and 2 not in o for o in out)


def test_cross_weights_are_kept_through_the_book_decoder():
    torch.manual_seed(0)
    model = Listener(ListenerConfig(13, n_decoder_layers=2))
    model.decoder.keep_cross_weights()
    feats = torch.randn(2, 40, 40, generator=gen(0))
    model(
        feats, torch.ones(2, 40, dtype=torch.bool), torch.ones(2, 4, dtype=torch.long)
    )
    w = model.decoder.cross_weights()
    assert w.shape == (2, 2, 4, 4, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 4, 4))
    assert w.requires_grad  # so a guided-attention loss can train through them


@functools.cache
def brute_distance(a, b):
    if not a or not b:
        return len(a) + len(b)
    return min(
        brute_distance(a[1:], b) + 1,
        brute_distance(a, b[1:]) + 1,
        brute_distance(a[1:], b[1:]) + (a[0] != b[0]),
    )


def test_edit_distance_matches_the_recursive_definition():
    words = ["", "a", "ab", "ba", "abc", "kitten", "sitting", "flaw", "lawn", "aaa"]
    for a, b in itertools.product(words, repeat=2):
        assert edit_distance(a, b) == brute_distance(a, b)
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([1, 2, 3], (1, 3)) == 1


def test_character_error_rate_is_total_edits_over_total_length():
    assert character_error_rate(["123", "45"], ["123", "456"]) == pytest.approx(1 / 6)
    assert character_error_rate(["", ""], ["12", "3"]) == 1.0
    assert character_error_rate(["999999"], ["1"]) == 6.0  # insertions: above 1


def test_guided_weights_are_zero_on_the_diagonal_and_padding():
    w = guided_attention_weights(torch.tensor([4, 2]), torch.tensor([12, 6]), 5, 13)
    assert w.shape == (2, 5, 13)
    # step n of N and frame t of T are on the diagonal: (n + 1/2) / N = (t + 1/2) / T
    assert w[0, 0, 1].item() == pytest.approx(0.0, abs=1e-7)
    assert w[0, 3, 10].item() == pytest.approx(0.0, abs=1e-7)
    assert w[0, 0, 11].item() > 0.99 and (w[0, 4] == 0).all()
    assert (w[0, :, 12] == 0).all()
    assert (w[1, 2:] == 0).all() and (w[1, :, 6:] == 0).all()
    want = 1 - torch.exp(torch.tensor(-((0.5 / 4 - 3.5 / 12) ** 2) / (2 * 0.2**2)))
    assert w[0, 0, 3].item() == pytest.approx(want.item())


def test_guided_loss_prefers_the_diagonal():
    tgt_len, src_len = torch.tensor([4]), torch.tensor([8])
    diagonal = torch.zeros(1, 1, 5, 8)
    for n in range(4):
        diagonal[0, 0, n, 2 * n : 2 * n + 2] = 0.5
    diagonal[0, 0, 4, 7] = 1.0  # the eos step is not guided
    backwards = diagonal[..., :4, :].flip(-1)
    backwards = torch.cat([backwards, diagonal[..., 4:, :]], -2)
    good = guided_attention_loss(diagonal, tgt_len, src_len)
    bad = guided_attention_loss(backwards, tgt_len, src_len)
    assert good < 0.1 < 0.5 < bad <= 1


def test_monotonic_share_counts_only_real_steps():
    path = torch.tensor([[0, 1, 1, 3, 2], [4, 3, 2, 9, 9]])
    assert monotonic_share(path, torch.tensor([5, 3])) == pytest.approx(3 / 6)
    assert monotonic_share(path[:1], torch.tensor([4])) == 1.0
    weights = torch.zeros(1, 3, 4)
    weights[0, torch.arange(3), torch.tensor([0, 2, 3])] = 1.0
    assert alignment_path(weights).tolist() == [[0, 2, 3]]


def test_span_hits_and_their_chance():
    path = torch.tensor([[0, 1, 3]])  # memory frames, factor 4: frames 0-3, 4-7, 12-15
    spans = torch.tensor([[[1, 5], [5, 9], [9, 12]]])
    memory_mask = torch.ones(1, 4, dtype=torch.bool)
    hit, chance = span_hits(path, spans, 4, memory_mask)
    assert hit == pytest.approx(2 / 3)  # the third's span is frames 9-11: memory 2
    assert chance == pytest.approx((2 / 4 + 2 / 4 + 1 / 4) / 3)


def test_guided_weights_take_a_dtype_and_the_loss_follows_the_weights():
    tgt, src = torch.tensor([4, 3]), torch.tensor([12, 9])
    w32 = guided_attention_weights(tgt, src, 5, 12)
    w64 = guided_attention_weights(tgt, src, 5, 12, dtype=torch.float64)
    assert (w32.dtype, w64.dtype) == (torch.float32, torch.float64)
    torch.testing.assert_close(w32.double(), w64, atol=1e-6, rtol=0)
    attn = torch.rand(2, 2, 5, 12, generator=gen(3), dtype=torch.float64).softmax(-1)
    loss64 = guided_attention_loss(attn, tgt, src)
    loss32 = guided_attention_loss(attn.float(), tgt, src)
    assert loss64.dtype == torch.float64 and loss32.dtype == torch.float32
    assert loss64.item() == pytest.approx(loss32.item(), abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stack_frames_and_the_scores_work_in_both_dtypes(dtype):
    x = torch.randn(2, 7, 3, generator=gen(4), dtype=dtype)
    mask = torch.arange(7)[None] < torch.tensor([[7], [4]])
    out, out_mask = stack_frames(x, mask)
    assert out.dtype == dtype and out.shape == (2, 4, 6)
    assert out_mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    weights = torch.rand(2, 3, 4, generator=gen(5), dtype=dtype)
    path = alignment_path(weights)
    assert path.dtype == torch.long
    assert 0 <= monotonic_share(path, torch.tensor([3, 2])) <= 1


@pytest.mark.parametrize("attention", ["soft", "monotonic"])
def test_a_listener_in_float64_computes_what_it_does_in_float32(attention):
    torch.manual_seed(0)
    model = Listener(ListenerConfig(13, attention=attention)).eval()
    feats = torch.randn(2, 30, 40, generator=gen(6))
    mask = torch.arange(30)[None] < torch.tensor([[30], [21]])
    tgt = torch.tensor([[1, 5, 6, 7], [1, 8, 9, 0]])
    out32 = model(feats, mask, tgt)
    out64 = model.double()(feats.double(), mask, tgt)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out32, atol=1e-4, rtol=1e-4)
    ids = model.transcribe(feats.double(), mask, bos_id=1, eos_id=2, max_len=4)
    assert len(ids) == 2


def test_a_monotonic_listener_differs_from_the_soft_one_only_in_its_weights():
    torch.manual_seed(3)
    soft = Listener(ListenerConfig(13))
    torch.manual_seed(3)
    mono = Listener(ListenerConfig(13, attention="monotonic"))
    cross = mono.decoder.layers[0].cross_attn
    assert isinstance(cross, xattn.MonotonicCrossAttention) and cross.n_heads == 1
    soft_state, mono_state = soft.state_dict(), mono.state_dict()
    assert set(mono_state) - set(soft_state) == {"decoder.layers.0.cross_attn.r"}
    for name, value in soft_state.items():
        assert torch.equal(value, mono_state[name]), name
    feats = torch.randn(3, 41, 40, generator=gen(7))
    mask = torch.arange(41)[None] < torch.tensor([[41], [30], [17]])
    tgt = torch.tensor([[1, 5, 6, 7, 8], [1, 9, 4, 0, 0], [1, 3, 0, 0, 0]])
    mono.eval()
    mono.decoder.keep_cross_weights()
    mono(feats, mask, tgt)
    weights = mono.decoder.cross_weights()[0, :, 0]  # (B, Lq, Lk): one-hot or zero
    assert ((weights == 0) | (weights == 1)).all() and (weights.sum(-1) <= 1).all()
    _, memory_mask = mono.encoder(feats, mask)
    assert (weights * ~memory_mask[:, None]).sum() == 0  # never a padding frame
    lk = weights.shape[-1]
    stops = torch.where(weights.sum(-1) > 0, weights.argmax(-1), lk)  # (B, Lq)
    assert (stops.diff(dim=-1) >= 0).all()  # never back
    mono.train()
    mono(feats, mask, tgt)  # expected alignment, with noise, while training
    expected = mono.decoder.cross_weights()[0, :, 0]
    assert expected.requires_grad and (expected.sum(-1) <= 1 + 1e-5).all()


ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ROOT / "tests" / "answers" / "15_listening"


def exercise_cells() -> dict[str, str]:
    """Chapter 15's solution and test cells, by grade id (``ex2-tests``)."""
    return chapter_exercise_cells("15_listening")


PAGE = """
import math

import torch
import xattn
from xattn import hz_to_mel, mel_to_hz, mel_filterbank


def stack_frames(x, mask):  # the page's own copy: another function object
    return xattn.listen.stack_frames.__wrapped__(x, mask)
"""


def passes(exercise: str, answer: str) -> bool:
    """Whether an answer passes an exercise's tests, hidden ones included."""
    namespace: dict = {}
    exec(PAGE, namespace)
    exec(answer, namespace)
    try:
        exec(exercise_cells()[f"{exercise}-tests"], namespace)
    except AssertionError:  # a failed check, or xattn.grading.Forbidden
        return False
    return True


EXERCISES = ["ex1", "ex2", "ex3", "ex4"]


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_and_the_alternative_pass_and_the_wrong_answer_fails(exercise):
    assert passes(exercise, exercise_cells()[f"{exercise}-solution"])
    assert passes(exercise, (ANSWERS / f"{exercise}.alternative.py").read_text())
    assert not passes(exercise, (ANSWERS / f"{exercise}.wrong.py").read_text())


# More wrong answers than the coursework gate's one per exercise (tests/answers holds
# the shortcuts the tests forbid): the bugs a learner writes, each of which must fail.
MORE_WRONG = {
    "ex2 drops an odd last frame": (
        "ex2",
        """
def stack_pairs(x, lengths):
    b, f, c = x.shape
    real = torch.arange(f)[None] < lengths[:, None]
    x = (x * real[..., None])[:, : f // 2 * 2]
    return x.reshape(b, -1, 2 * c), lengths // 2
""",
    ),
    "ex2 float lengths": (
        "ex2",
        """
def stack_pairs(x, lengths):
    b, f, c = x.shape
    real = torch.arange(f)[None] < lengths[:, None]
    x = x * real[..., None]
    if f % 2:
        x = torch.cat([x, x.new_zeros(b, 1, c)], dim=1)
    return x.reshape(b, -1, 2 * c), torch.ceil(lengths / 2)
""",
    ),
    "ex3 staying put counted as going back": (
        "ex3",
        """
def monotonic_fraction(weights, n_steps):
    path = weights[:n_steps].argmax(-1)
    return (path[1:] > path[:-1]).float().mean().item()
""",
    ),
    "ex3 counts every row": (
        "ex3",
        """
def monotonic_fraction(weights, n_steps):
    path = weights.argmax(-1)
    return (path[1:] >= path[:-1]).float().mean().item()
""",
    ),
    "ex4 a chunk one frame too wide": (
        "ex4",
        """
def chunk_weights(stops, energies, width):
    frames = torch.arange(energies.shape[-1])
    end = stops[..., None]
    chunk = (frames <= end) & (frames >= end - width) & (end < energies.shape[-1])
    weights = energies.masked_fill(~chunk, -math.inf).softmax(-1)
    return torch.nan_to_num(weights, nan=0.0)
""",
    ),
    "ex4 exp without the max": (
        "ex4",
        """
def chunk_weights(stops, energies, width):
    frames = torch.arange(energies.shape[-1])
    end = stops[..., None]
    chunk = (frames <= end) & (frames > end - width) & (end < energies.shape[-1])
    e = energies.exp() * chunk
    return torch.nan_to_num(e / e.sum(-1, keepdim=True), nan=0.0)
""",
    ),
}


@pytest.mark.parametrize("name", list(MORE_WRONG))
def test_more_wrong_answers_lose_marks(name):
    exercise, answer = MORE_WRONG[name]
    assert not passes(exercise, answer), name
