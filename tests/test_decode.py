"""Decoding: caches change the cost, never the result."""

import pytest
import torch

import xattn
from xattn.decode import beam_search, greedy_decode

CFG = xattn.Seq2SeqConfig(
    src_vocab_size=20,
    tgt_vocab_size=12,
    d_model=32,
    n_heads=4,
    n_layers=2,
    n_decoder_layers=2,
    d_ff=64,
    dropout=0.0,
)


@pytest.fixture(scope="module")
def model():
    xattn.seed_everything(0)
    return xattn.Seq2Seq(CFG).eval()


@pytest.fixture(scope="module")
def src():
    g = torch.Generator().manual_seed(1)
    s = torch.randint(4, 20, (5, 9), generator=g)
    s[1, 6:] = 0
    s[3, 2:] = 0
    return s


def test_cached_greedy_equals_uncached(model, src):
    a_tokens, a_logits = greedy_decode(model, src, max_len=12, use_cache=True)
    b_tokens, b_logits = greedy_decode(model, src, max_len=12, use_cache=False)
    assert torch.equal(a_tokens, b_tokens)
    torch.testing.assert_close(a_logits, b_logits, atol=1e-5, rtol=1e-5)


def test_greedy_logits_are_the_teacher_forced_logits(model, src):
    tokens, logits = greedy_decode(model, src, max_len=10, use_cache=True)
    memory, src_mask = model.encode(src)
    forced_in = torch.cat(
        [torch.ones(5, 1, dtype=torch.long), tokens[:, :-1].clamp(min=1)], 1
    )
    # Before any <eos> the greedy prefix is the decoder input; compare there.
    forced = model.decode(forced_in, memory, src_mask)
    forced[..., CFG.pad_id] = float("-inf")
    torch.testing.assert_close(logits[:, 0], forced[:, 0], atol=1e-5, rtol=1e-5)
    assert torch.equal(logits.argmax(-1)[:, 0], tokens[:, 0])


def test_nothing_after_eos_and_no_padding_written():
    xattn.seed_everything(3)
    m = xattn.Seq2Seq(CFG).eval()
    with torch.no_grad():
        m.generator.weight[2] += (
            0.5  # make <eos> likely, so that sentences end at different steps
        )
    tokens, _ = greedy_decode(m, torch.randint(4, 20, (8, 6)), max_len=12)
    for row in tokens.tolist():
        if 2 in row:
            end = row.index(2)
            assert all(t == 0 for t in row[end + 1 :])
            assert 0 not in row[: end + 1]


@pytest.mark.parametrize("use_cache", [True, False])
def test_beam_of_one_is_greedy(model, src, use_cache):
    greedy, _ = greedy_decode(model, src, max_len=12)
    beam, _ = beam_search(model, src, beam_size=1, max_len=12, use_cache=use_cache)
    assert torch.equal(beam, greedy[:, : beam.shape[1]]) or torch.equal(
        beam[:, : greedy.shape[1]], greedy
    )


def test_cached_beam_equals_uncached(model, src):
    a, sa = beam_search(model, src, beam_size=4, max_len=12, use_cache=True)
    b, sb = beam_search(model, src, beam_size=4, max_len=12, use_cache=False)
    assert torch.equal(a, b)
    torch.testing.assert_close(sa, sb, atol=1e-5, rtol=1e-5)


def test_beam_scores_are_log_probabilities_of_the_returned_sentences(model, src):
    tokens, scores = beam_search(model, src, beam_size=3, max_len=8, length_penalty=0.0)
    memory, src_mask = model.encode(src)
    for b in range(src.shape[0]):
        row = tokens[b].tolist()
        length = row.index(2) + 1 if 2 in row else len(row)
        seq = torch.tensor([[1] + row[:length]])
        logits = model.decode(seq[:, :-1], memory[b : b + 1], src_mask[b : b + 1])
        logits[..., CFG.pad_id] = float("-inf")
        logp = logits.log_softmax(-1)[0, torch.arange(length), seq[0, 1:]].sum()
        torch.testing.assert_close(scores[b], logp, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, s: greedy_decode(m, s[0]), r"src must be \(B, Lk\)"),
        (lambda m, s: greedy_decode(m, s, max_len=0), "max_len must be a positive int"),
        (
            lambda m, s: beam_search(m, s, beam_size=0),
            "beam_size must be a positive int",
        ),
        (
            lambda m, s: greedy_decode(torch.nn.Linear(2, 2), s),
            "model must be an xattn.Seq2Seq",
        ),
        (lambda m, s: greedy_decode(m, s.float()), "torch.long token ids"),
        (lambda m, s: beam_search(m, s + 20), r"src holds ids outside \[0, 20\)"),
        (lambda m, s: greedy_decode(m, s, use_cache=1), "use_cache must be True"),
        (
            lambda m, s: beam_search(m, s, length_penalty=-1.0),
            "length_penalty must be a finite number",
        ),
    ],
)
def test_bad_decoding_arguments(model, src, call, message):
    with pytest.raises(ValueError, match=message):
        call(model, src)


@pytest.mark.parametrize("use_cache", [True, False])
def test_no_end_token_writes_max_len_tokens(model, src, use_cache):
    tokens, logits = greedy_decode(
        model, src, max_len=7, eos_id=None, use_cache=use_cache
    )
    assert tokens.shape == (5, 7) and logits.shape[:2] == (5, 7)
    assert torch.equal(tokens, logits.argmax(-1))
    beam, _ = beam_search(
        model, src, beam_size=1, max_len=7, eos_id=None, use_cache=use_cache
    )
    assert torch.equal(beam, tokens)


def test_greedy_tokens_never_writes_padding_and_pads_after_eos():
    # Scripted logits: row 0 prefers pad (0) then says 5, then eos (2); row 1 says 4, 4.
    script = torch.tensor(
        [
            [[9.0, 0, 0, 0, 0, 1], [0, 0, 9, 0, 0, 0], [0, 0, 0, 0, 0, 9]],
            [[0.0, 0, 0, 0, 9, 0], [0, 0, 0, 0, 9, 0], [0, 0, 0, 0, 9, 0]],
        ]
    )  # (B, T, V)
    seen = []

    def next_logits(tokens):
        seen.append(tokens.clone())
        return script[:, tokens.shape[1] - 1].clone()

    tokens, logits = xattn.greedy_tokens(
        next_logits, 2, 3, bos_id=1, eos_id=2, pad_id=0
    )
    assert tokens.tolist() == [[5, 2, 0], [4, 4, 4]]
    assert logits.shape == (2, 3, 6) and torch.isinf(logits[..., 0]).all()
    assert seen[0].tolist() == [[1], [1]]  # <bos> first
    with pytest.raises(ValueError, match="next_logits must be a function"):
        xattn.greedy_tokens(None, 2, 3, bos_id=1, eos_id=2, pad_id=0)
    with pytest.raises(ValueError, match="max_len"):
        xattn.greedy_tokens(next_logits, 2, 0, bos_id=1, eos_id=2, pad_id=0)
