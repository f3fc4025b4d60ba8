"""The listener: pyramidal encoder, edit distance, alignment scores (chapter 15)."""

import functools
import itertools

import pytest
import torch
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


CASES = [
    ("config odd width", lambda: ListenerConfig(10, d_model=63), r"d_model=63 must"),
    ("config vocab 0", lambda: ListenerConfig(0), r"vocab_size must be a positive"),
    ("config halvings -1", lambda: ListenerConfig(10, n_halvings=-1), r"n_halvings"),
    ("config pad id", lambda: ListenerConfig(10, pad_id=10), r"pad_id=10 must be <"),
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
        "encoder wrong mel bins",
        lambda: PyramidEncoder(ListenerConfig(5))(
            torch.zeros(1, 8, 20), torch.ones(1, 8, dtype=torch.bool)
        ),
        r"n_mels=40 bins, got features \(1, 8, 20\)",
    ),
    (
        "decoder ids float",
        lambda: Listener(ListenerConfig(5)).decode(
            torch.zeros(1, 3), torch.zeros(1, 2, 64), torch.ones(1, 2, dtype=torch.bool)
        ),
        r"tgt_in must be \(B, Lq\) torch.long",
    ),
    (
        "decoder batch mismatch",
        lambda: Listener(ListenerConfig(5)).decode(
            torch.ones(2, 3, dtype=torch.long),
            torch.zeros(1, 2, 64),
            torch.ones(1, 2, dtype=torch.bool),
        ),  # fmt: skip
        r"share the batch size: tgt_in \(2, 3\) vs memory \(1, 2, 64\)",
    ),
    (
        "cer lengths",
        lambda: character_error_rate(["a"], ["a", "b"]),
        r"as many: 1 vs 2",
    ),
    ("cer empty refs", lambda: character_error_rate([""], [""]), r"at least one char"),
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
        "loss batch mismatch",
        lambda: guided_attention_loss(
            torch.zeros(2, 1, 3, 4), torch.tensor([2]), torch.tensor([3])
        ),
        r"B = len\(tgt_lengths\): weights \(2, 1, 3, 4\) vs tgt_lengths \(1,\)",
    ),
    (
        "monotonic lengths",
        lambda: monotonic_share(torch.zeros(2, 3), torch.tensor([3])),
        r"path must be \(B, Lq\) and lengths \(B,\): \(2, 3\) vs \(1,\)",
    ),
    (
        "monotonic nothing to count",
        lambda: monotonic_share(torch.zeros(1, 3), torch.tensor([1])),
        r"at least one row two steps",
    ),
    (
        "span hits shapes",
        lambda: span_hits(
            torch.zeros(1, 3),
            torch.zeros(1, 2, 2),
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
        "path of ints",
        lambda: alignment_path(torch.zeros(2, 3, dtype=torch.long)),
        r"weights must be a floating-point",
    ),  # fmt: skip
]


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
