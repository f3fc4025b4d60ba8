"""The training loop: schedule, exact resumption (also after a kill), DDP on CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import xattn
from xattn.data import DateTask
from xattn.train import (
    TrainConfig,
    evaluate,
    load_checkpoint,
    lr_factor,
    model_from_checkpoint,
    train,
)

TASK = DateTask()
# dropout on: its RNG must resume too
TINY = dict(d_model=32, n_heads=2, n_layers=1, d_ff=64, dropout=0.1)


def tiny_model(seed: int = 0) -> xattn.Seq2Seq:
    xattn.seed_everything(seed)
    return xattn.Seq2Seq(
        xattn.Seq2SeqConfig(len(TASK.source_vocab), len(TASK.target_vocab), **TINY)
    )


def test_learning_rate_warms_up_then_decays():
    cfg = TrainConfig(steps=1000, warmup_steps=100, min_lr_ratio=0.1)
    f = [lr_factor(s, cfg) for s in range(1000)]
    assert f[0] == pytest.approx(0.01) and f[99] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(f[:99], f[1:100])), "linear warm-up"
    assert all(a >= b for a, b in zip(f[100:], f[101:])), "then never increases"
    assert f[-1] == pytest.approx(0.1, abs=1e-4)


def test_a_short_run_learns_something():
    model = tiny_model()
    history = train(
        model,
        TASK,
        TrainConfig(steps=60, batch_size=32, eval_examples=64, eval_every=30),
        device="cpu",
        progress=False,
    )
    assert len(history.loss) == 60 and history.step[-1] == 60
    assert sum(history.loss[-10:]) / 10 < 0.8 * sum(history.loss[:10]) / 10
    assert [e["step"] for e in history.evals] == [30, 60]
    assert all(
        0 <= e["exact_match"] <= 1 and 0 <= e["token_accuracy"] <= 1
        for e in history.evals
    )


def test_an_interrupted_run_resumes_to_exactly_the_same_losses(tmp_path, monkeypatch):
    cfg = TrainConfig(
        steps=40, batch_size=16, eval_examples=32, eval_every=20, checkpoint_every=10
    )
    full = train(
        tiny_model(),
        TASK,
        cfg,
        device="cpu",
        checkpoint=tmp_path / "full.pt",
        progress=False,
    )

    real_batch = TASK.batch

    def interrupted(step, *args, **kwargs):
        if step == 25:
            raise KeyboardInterrupt  # as if the learner pressed Ctrl-C during step 25
        return real_batch(step, *args, **kwargs)

    monkeypatch.setattr(TASK, "batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(
            tiny_model(),
            TASK,
            cfg,
            device="cpu",
            checkpoint=tmp_path / "cut.pt",
            progress=False,
        )
    assert load_checkpoint(tmp_path / "cut.pt")["step"] == 20
    monkeypatch.setattr(TASK, "batch", real_batch)
    torch.manual_seed(12345)  # whatever the RNG holds now must not matter
    resumed = train(
        tiny_model(seed=99),
        TASK,
        cfg,
        device="cpu",
        checkpoint=tmp_path / "cut.pt",
        resume=True,
        progress=False,
    )
    assert resumed.loss == full.loss  # exactly, float for float
    assert [e["exact_match"] for e in resumed.evals] == [
        e["exact_match"] for e in full.evals
    ]
    a, b = load_checkpoint(tmp_path / "full.pt"), load_checkpoint(tmp_path / "cut.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


def test_checkpoint_holds_everything_and_loads_safely(tmp_path):
    train(
        tiny_model(),
        TASK,
        TrainConfig(steps=5, batch_size=8, eval_examples=0),
        device="cpu",
        checkpoint=tmp_path / "c.pt",
        progress=False,
    )
    # plain data and tensors, no pickled code
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert set(state) >= {
        "model",
        "optimizer",
        "scheduler",
        "rng",
        "model_config",
        "train_config",
        "history",
        "step",
    }
    assert (
        state["train_config"]["steps"] == 5 and state["model_config"]["d_model"] == 32
    )
    model, _ = model_from_checkpoint(tmp_path / "c.pt")
    assert not model.training and model.cfg.d_model == 32


def _cli(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "xattn.train",
        "--preset",
        "cpu",
        "--no-progress",
        *args,
    ]


def test_a_killed_command_line_run_resumes_exactly(tmp_path):
    common = [
        "--steps",
        "60",
        "--batch-size",
        "16",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "10",
        "--seed",
        "3",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(
        _cli(*common, "--checkpoint", str(tmp_path / "full.pt")),
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    cut = tmp_path / "cut.pt"
    proc = subprocess.Popen(
        _cli(*common, "--checkpoint", str(cut)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not cut.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    killed_at = load_checkpoint(cut)["step"]
    assert killed_at < 60, "the run was killed before it finished"
    subprocess.run(
        _cli(*common, "--checkpoint", str(cut), "--resume"),
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    full, resumed = load_checkpoint(tmp_path / "full.pt"), load_checkpoint(cut)
    assert resumed["step"] == 60
    assert resumed["history"]["loss"] == full["history"]["loss"]
    assert all(torch.equal(t, resumed["model"][k]) for k, t in full["model"].items())


def test_distributed_data_parallel_on_cpu_keeps_ranks_identical(tmp_path):
    out = tmp_path / "final"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "xattn.train",
        "--preset",
        "cpu",
        "--device",
        "cpu",
        "--steps",
        "12",
        "--batch-size",
        "8",
        "--eval-every",
        "0",
        "--no-progress",
        "--save-final",
        str(out),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(f"{out}.rank0.pt", weights_only=True)
    rank1 = torch.load(f"{out}.rank1.pt", weights_only=True)
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), f"ranks disagree on {name}"
    xattn.seed_everything(0)
    initial = xattn.Seq2Seq(
        xattn.Seq2SeqConfig(
            len(TASK.source_vocab),
            len(TASK.target_vocab),
            **xattn.train.PRESETS["cpu"][0],
        )
    ).state_dict()
    assert any(not torch.equal(initial[k], rank0[k]) for k in initial), (
        "the weights moved"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(steps=0), "steps must be a positive int"),
        (dict(lr=2.0), r"lr must be a finite number in \(0, 1\)"),
        (dict(warmup_steps=-1), "warmup_steps must be an int >= 0"),
        (dict(stop_at_exact_match=1.5), "stop_at_exact_match"),
        (dict(label_smoothing=1.0), "label_smoothing"),
    ],
)
def test_bad_training_config(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: evaluate(tiny_model(), TASK, [], "cpu"), "non-empty list of Date"),
        (lambda: evaluate(tiny_model(), TASK, ["x"], "cpu"), "non-empty list of Date"),
        (
            lambda: evaluate(tiny_model(), TASK, TASK.examples("val", 2), "cpu", 0),
            "batch_size must be a positive int",
        ),
        (lambda: evaluate(tiny_model(), "dates", [], "cpu"), "task must be an xattn"),
        (lambda: train(tiny_model(), TASK, dict(steps=5)), "cfg must be a TrainConfig"),
        (lambda: train(tiny_model(), TASK, resume="yes"), "resume must be True or"),
        (lambda: train(tiny_model(), TASK, progress=0), "progress must be True or"),
    ],
)
def test_bad_training_call(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_command_line_is_the_package_main():
    result = subprocess.run(
        [sys.executable, "-m", "xattn.train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "--preset {base,cpu,gpu}" in result.stdout


def test_every_shipped_run_loads_as_its_preset_and_the_seeds_differ():
    import xattn.pretrained as pretrained
    from xattn.train import PRESETS

    models = {}
    for name, (preset, changes) in pretrained.RUNS.items():
        model, history = pretrained.date_run(name)
        assert not model.training
        assert model.cfg.d_model == PRESETS[preset][0]["d_model"]
        assert history.step[-1] == changes.get("steps", PRESETS[preset][1]["steps"])
        models[name] = model
    first = {n: next(m.parameters()).detach() for n, m in models.items()}
    seeds = ["date-cpu", "date-cpu-seed1", "date-cpu-seed2"]
    pairs = [(a, b) for a in seeds for b in seeds if a < b]
    assert all(not torch.equal(first[a], first[b]) for a, b in pairs)
    with pytest.raises(ValueError, match="no pretrained run 'date-gpu'.*date-cpu"):
        pretrained.checkpoint_path("date-gpu")
