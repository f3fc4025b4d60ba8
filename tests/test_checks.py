"""`checked`: a public entry checks its inputs once, then runs the chapter's code."""

import sys
from collections import Counter

import pytest
import torch

import xattn
from xattn.checks import checked


def _rule(x, *, positive=True):
    if positive and x < 0:
        raise ValueError(f"x must be >= 0, got {x}")


@checked(_rule)
def inner(x, *, positive=True):
    """The core: no checks of its own."""
    return x


@checked(_rule)
def outer(x, *, positive=True):
    """Calls ``inner`` with a value its own rule would refuse."""
    return inner(-abs(x) - 1)


def test_the_checks_run_at_the_entry_with_the_calls_arguments():
    assert inner(2) == 2
    with pytest.raises(ValueError, match="x must be >= 0, got -1"):
        inner(-1)
    assert inner(-1, positive=False) == -1  # keyword arguments reach the check
    assert inner.__wrapped__(-5) == -5  # the core alone


def test_a_checked_call_inside_another_trusts_its_caller():
    assert outer(3) == -4  # inner's check did not run
    with pytest.raises(ValueError):
        outer(-3)  # outer's did


def test_an_error_inside_the_core_leaves_later_calls_checked():
    @checked(_rule)
    def broken(x, *, positive=True):
        raise RuntimeError("inside the core")

    with pytest.raises(RuntimeError):
        broken(1)
    with pytest.raises(ValueError):
        inner(-1)  # still checked: the entry's state was reset


def test_checks_must_be_functions():
    with pytest.raises(ValueError, match="checks must be functions"):
        checked("check_x")


def _calls_into(folder: str, run) -> Counter:
    """How many times each function under a folder is called while ``run()`` runs."""
    seen: Counter = Counter()

    def profile(frame, event, arg):
        if event == "call" and folder in frame.f_code.co_filename:
            seen[frame.f_code.co_name] += 1

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return seen


def test_a_layer_checks_its_memory_mask_once():
    layer = xattn.MultiHeadCrossAttention(16, 4)
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    memory_mask = xattn.padding_mask([5, 2], max_len=5)
    seen = _calls_into(
        "xattn/checks/",
        lambda: layer(x, memory, memory_mask, need_weights=True),
    )
    # Once at the entry; not again in combine_masks, mask_bias or masked_softmax.
    assert seen["check_memory_mask"] == 1
    assert seen["check_bool_mask"] == seen["check_mask"] == 0, seen
    assert seen["check_stream"] == 2  # x and memory, once each


def test_a_checked_layer_gives_the_same_result_as_its_core():
    layer = xattn.MultiHeadCrossAttention(16, 4)
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    core = type(layer).forward.__wrapped__
    out, weights = layer(x, memory, need_weights=True)
    out_core, weights_core = core(layer, x, memory, need_weights=True)
    assert torch.equal(out, out_core) and torch.equal(weights, weights_core)


def _checks_run(run) -> Counter:
    """How many times each check function of the package runs while ``run()`` runs."""
    seen = _calls_into("xattn/", run)
    return Counter({name: n for name, n in seen.items() if name.startswith("_check")})


def test_a_model_checks_its_inputs_once_not_at_every_layer():
    cfg = xattn.Seq2SeqConfig(11, 9, d_model=16, n_heads=4, n_layers=3, dropout=0.0)
    model = xattn.Seq2Seq(cfg).eval()
    src = torch.tensor([[4, 5, 6], [7, 8, 0]])
    tgt_in = torch.tensor([[1, 2, 3, 4], [1, 5, 0, 0]])
    seen = _checks_run(lambda: model(src, tgt_in))
    # The ids once each at the entry; the masks it derives from them never again.
    assert seen["_check_forward"] == 1 and seen["_check_ids"] == 2, seen
    assert seen["_check_multi_head_call"] == seen["_check_positions_call"] == 0, seen
    memory, src_mask = model.encode(src)
    x = torch.randn(2, 4, 16)
    seen = _checks_run(lambda: model.decoder(x, memory, src_mask, tgt_in != 0))
    # A stack called directly checks against its first block: self and cross once.
    assert seen["_check_decoder_call"] == 1, seen
    assert seen["_check_multi_head_call"] == 2, seen
    caches = model.init_cache(memory)
    step = torch.ones(2, 1, dtype=torch.long)
    seen = _checks_run(lambda: model.decode_step(step, 0, src_mask, caches))
    assert seen["_check_decode_step"] == 1 and seen["_check_kv"] == 1, seen
    assert seen["_check_multi_head_call"] == 0, seen


def test_a_stack_reports_a_bad_mask_as_its_layers_did():
    cfg = xattn.Seq2SeqConfig(11, 9, d_model=16, n_heads=4, n_layers=2, dropout=0.0)
    model = xattn.Seq2Seq(cfg).eval()
    memory, x = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    bad = torch.ones(2, 3)  # a float mask
    with pytest.raises(ValueError, match="memory_mask must be a bool tensor"):
        model.decoder(x, memory, bad)
    with pytest.raises(ValueError, match=r"memory_mask must be \(B, Lk\) = \(2, 3\)"):
        model.encoder(memory, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"x must be \(B, L, 16\) for d_model=16"):
        model.decoder(torch.randn(2, 4, 8), memory)
    with pytest.raises(ValueError, match=r"memory_mask must be \(B, Lk\)"):
        model.decode(torch.ones(2, 4, dtype=torch.long), memory, bad.bool()[:, :2])
    with pytest.raises(ValueError, match="positions up to 300 asked for"):
        model(torch.ones(1, 300, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))
