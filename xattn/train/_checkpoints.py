"""Checkpoints: everything a run needs to continue, written so a kill loses nothing.

A checkpoint holds tensors and plain data only (no pickled classes), so that it
loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

from xattn.model import Seq2Seq, Seq2SeqConfig
from xattn.train._config import History, TrainConfig


def unwrap(model: torch.nn.Module) -> Seq2Seq:
    """The model itself, out of a DistributedDataParallel wrapper if it is in one."""
    return model.module if hasattr(model, "module") else model


def rng_state() -> dict:
    """The random-number generators' states (CPU, and every CUDA device)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Put back what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | Path,
    model,
    optimizer,
    scheduler,
    step: int,
    history: History,
    train_cfg: TrainConfig,
    locales,
) -> None:
    """Everything a run needs to continue.

    Written to a temporary file first, so that a kill never leaves half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "rng": rng_state(),
        "model_config": unwrap(model).cfg.to_dict(),
        "train_config": asdict(train_cfg),
        "history": history.to_dict(),
        "locales": list(locales),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``: tensors and plain data, no code."""
    return torch.load(path, map_location=device, weights_only=True)


def model_from_checkpoint(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[Seq2Seq, dict]:
    """Rebuild the trained model saved at ``path``: (model in eval mode, state)."""
    state = load_checkpoint(path, device)
    model = Seq2Seq(Seq2SeqConfig(**state["model_config"])).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), state
