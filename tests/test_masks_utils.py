"""Masks, converters between conventions, seeding and device choice."""

import random

import numpy as np
import pytest
import torch

import xattn


def test_padding_mask_marks_real_tokens():
    m = xattn.padding_mask([3, 1, 0], max_len=4)
    expected = torch.tensor(
        [[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool
    )
    assert torch.equal(m, expected)
    assert xattn.padding_mask(torch.tensor([2, 5])).shape == (2, 5)


def test_causal_mask_is_lower_triangular():
    m = xattn.causal_mask(4)
    assert m.dtype == torch.bool
    for i in range(4):
        for j in range(4):
            assert bool(m[i, j]) == (j <= i)


def test_converters_agree_on_one_padding_pattern():
    ours = xattn.padding_mask([2, 3], 3)  # True = attend
    kpm = ~ours  # nn.MultiheadAttention: True = ignore
    hf = ours.long()  # Hugging Face: 1 = attend
    additive = torch.zeros(2, 3).masked_fill(~ours, float("-inf"))
    assert torch.equal(xattn.from_key_padding_mask(kpm), ours)
    assert torch.equal(xattn.to_key_padding_mask(ours), kpm)
    assert torch.equal(xattn.from_hf_attention_mask(hf), ours)
    assert torch.equal(xattn.from_additive_mask(additive), ours)


def test_converted_mask_gives_same_output_as_multihead_attention_convention():
    """nn.MultiheadAttention's key_padding_mask through the converter and back."""
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(8, 1, batch_first=True, bias=False)
    x, mem = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    kpm = ~xattn.padding_mask([5, 2], 5)
    ref, ref_w = mha(x, mem, mem, key_padding_mask=kpm)
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    keep = xattn.from_key_padding_mask(kpm)[:, None, :]
    out, w = xattn.attention(x @ wq.T, mem @ wk.T, mem @ wv.T, keep)
    torch.testing.assert_close(out @ mha.out_proj.weight.T, ref)
    torch.testing.assert_close(w, ref_w)


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    xattn.seed_everything(7)
    a = draw()
    xattn.seed_everything(7)
    assert draw() == a


def test_get_device_defaults_and_override(monkeypatch):
    monkeypatch.delenv("XATTN_DEVICE", raising=False)
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert xattn.get_device().type == expected
    assert xattn.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("XATTN_DEVICE", "cpu")
    assert xattn.get_device() == torch.device("cpu")


def test_autocast_dtype_is_none_on_cpu():
    assert xattn.autocast_dtype(torch.device("cpu")) is None


@pytest.mark.parametrize("bad", [1.5, "3", True])
def test_seed_must_be_an_int(bad):
    with pytest.raises(ValueError, match="seed must be an int"):
        xattn.seed_everything(bad)


def test_median_seconds_times_the_call_and_refuses_nonsense():
    calls = []
    seconds = xattn.median_seconds(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and 0 <= seconds < 1
    for bad in (dict(repeats=0), dict(warmup=-1), dict(repeats=True)):
        with pytest.raises(ValueError, match="must be an int"):
            xattn.median_seconds(lambda: None, **bad)
    with pytest.raises(ValueError, match="fn must be a function"):
        xattn.median_seconds(None)


def test_interleaved_medians_times_each_in_rotating_order_and_refuses_nonsense():
    order = []
    fns = {name: (lambda n=name: order.append(n)) for name in "abc"}
    seconds = xattn.interleaved_medians(fns, rounds=3, warmup=1)
    assert set(seconds) == set("abc") and all(t >= 0 for t in seconds.values())
    assert order == list("abc") + list("abc") + list("bca") + list("cab")
    for bad in ({"rounds": 0}, {"warmup": -1}, {"rounds": True}):
        with pytest.raises(ValueError, match="must be an int"):
            xattn.interleaved_medians(fns, **bad)
    for bad_fns in ({}, {"a": 3}, [lambda: None]):
        with pytest.raises(ValueError, match="fns must be"):
            xattn.interleaved_medians(bad_fns)


def test_timers_time_one_call_while_nbgrader_grades(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    calls = []
    xattn.median_seconds(lambda: calls.append(1), repeats=5, warmup=2)
    assert calls == [1]
    order = []
    fns = {name: (lambda n=name: order.append(n)) for name in "ab"}
    assert set(xattn.interleaved_medians(fns, rounds=5, warmup=2)) == {"a", "b"}
    assert order == ["a", "b"]
    with pytest.raises(ValueError, match="must be an int"):
        xattn.median_seconds(lambda: None, repeats=0)  # still checked


def test_run_settings_pick_the_size_for_the_device_and_for_grading(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    cpu = xattn.run_settings("cpu")
    assert (cpu.device.type, cpu.grading, cpu.full, cpu.accelerated) == (
        "cpu",
        False,
        True,
        False,
    )
    assert cpu.pick(cpu=100, gpu=300, grading=10) == 100
    gpu = xattn.RunSettings(torch.device("cuda"), grading=False)
    assert gpu.pick(cpu=100, gpu=300, grading=10) == 300
    assert gpu.pick(cpu=100) == 100  # nothing said for a GPU: the CPU's size
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    graded = xattn.run_settings("cpu")
    assert graded.grading and not graded.full
    assert graded.pick(cpu=100, gpu=300, grading=10) == 10
    assert graded.pick(cpu=100, gpu=300) == 100
    assert str(graded) == "cpu, graded (small)" and str(cpu) == "cpu, full size"
