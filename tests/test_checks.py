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
