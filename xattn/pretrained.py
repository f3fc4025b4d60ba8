"""Trained date models that ship with the package, so that no chapter trains one twice.

Each checkpoint is exactly what :func:`xattn.train.train` produces from a preset
of ``xattn.train.PRESETS``, on a CPU with one thread and the CPU settings under
which the tests run the chapters (``conftest.py``): chapter 8 trains
``"date-cpu"`` in the open and checks that it matches the shipped one, and scores it
beside ``"date-cpu-seed1"`` and ``"date-cpu-seed2"`` (seeds 1 and 2); chapter 9
starts from ``"date-cpu-300"``, a separate 300-step run of chapter 8's recipe (its
warm-up and cosine decay fitted into 300 steps, not the 800-step run cut short);
the later chapters load ``"date-cpu"`` to swap their own attention into it.
Regenerate them with

    make pretrained     # retrain every run under the tests' settings, rewrite the files

The files hold tensors and plain data only and load with ``weights_only=True``.
That is far safer than unpickling arbitrary objects, but a checkpoint is still
input to trust or not: these are written by this module, from this package.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from xattn.data import DateTask
from xattn.model import Seq2Seq, Seq2SeqConfig
from xattn.train import PRESETS, History, TrainConfig, train
from xattn.utils import seed_everything

__all__ = ["RUNS", "checkpoint_path", "date_run", "date_model", "retrain", "main"]

log = logging.getLogger("xattn")

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"

#: name -> (preset, changes to its training settings), as the chapters run them.
RUNS: dict[str, tuple[str, dict]] = {
    "date-cpu": ("cpu", dict(eval_every=100, eval_examples=250)),  # chapter 8
    "date-cpu-300": ("cpu", dict(steps=300, eval_examples=0)),  # chapter 9
    # chapter 8's seeds: what every run of the recipe shares (the model's seed too)
    "date-cpu-seed1": ("cpu", dict(seed=1, eval_examples=0)),
    "date-cpu-seed2": ("cpu", dict(seed=2, eval_examples=0)),
}


def checkpoint_path(name: str) -> Path:
    """Where the checkpoint of run ``name`` lives inside the installed package."""
    if name not in RUNS:
        raise ValueError(f"no pretrained run {name!r}; the runs are {sorted(RUNS)}")
    return CHECKPOINTS / f"{name}.pt"


def retrain(name: str, device: torch.device | str = "cpu") -> tuple[Seq2Seq, History]:
    """Train run ``name`` from scratch as its chapter does: (model, history)."""
    checkpoint_path(name)  # checks the name
    preset, changes = RUNS[name]
    model_kwargs, train_kwargs = PRESETS[preset]
    task = DateTask()
    cfg = TrainConfig(**{**train_kwargs, **changes})
    seed_everything(cfg.seed)  # the model's seed: 0 for the chapters' runs
    model = Seq2Seq(
        Seq2SeqConfig(len(task.source_vocab), len(task.target_vocab), **model_kwargs)
    )
    history = train(model, task, cfg, device=torch.device(device), progress=False)
    return model.eval(), history


def date_run(
    name: str = "date-cpu", device: torch.device | str = "cpu"
) -> tuple[Seq2Seq, History]:
    """The shipped model of run ``name`` (in eval mode) and its training history."""
    path = checkpoint_path(name)
    if not path.exists():
        raise ValueError(
            f"{path} is missing; write it with `python -m xattn.pretrained`"
        )
    state = torch.load(path, map_location=device, weights_only=True)
    model = Seq2Seq(Seq2SeqConfig(**state["model_config"])).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), History.from_dict(state["history"])


def date_model(name: str = "date-cpu", device: torch.device | str = "cpu") -> Seq2Seq:
    """The trained date model of chapter 8, or another of :data:`RUNS`, in eval mode."""
    return date_run(name, device)[0]


def _write(name: str) -> Path:
    model, history = retrain(name)
    path = checkpoint_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "model_config": model.cfg.to_dict(),
        "history": history.to_dict(),
        "torch": torch.__version__.split("+")[0],
    }
    torch.save(state, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m xattn.pretrained [names]`` retrains, rewrites."""
    parser = argparse.ArgumentParser(
        prog="python -m xattn.pretrained", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "names", nargs="*", help=f"runs to write (default all: {', '.join(RUNS)})"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # as the chapters run: a thread count can change the last bits
    torch.set_num_threads(1)
    for name in args.names or list(RUNS):
        log.info("wrote %s", _write(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
