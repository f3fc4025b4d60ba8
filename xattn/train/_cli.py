"""The presets, and the command line ``python -m xattn.train``."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch

from xattn.data import DateTask
from xattn.model import Seq2Seq, Seq2SeqConfig
from xattn.train._checkpoints import load_checkpoint
from xattn.train._config import TrainConfig
from xattn.train._loop import train
from xattn.utils import get_device, seed_everything

log = logging.getLogger("xattn")

#: name -> (Seq2SeqConfig settings, TrainConfig settings); chapter 8 explains them.
PRESETS = {
    # Each preset is a model size and a training length; see chapter 8.
    "cpu": (
        dict(d_model=64, n_heads=4, n_layers=2, d_ff=256, dropout=0.0),
        dict(steps=800, batch_size=64, lr=3e-3),
    ),
    "gpu": (
        dict(d_model=256, n_heads=8, n_layers=3, d_ff=1024, dropout=0.1),
        dict(steps=4000, batch_size=256, lr=1e-3, warmup_steps=400),
    ),
    "base": (
        dict(d_model=512, n_heads=8, n_layers=6, d_ff=2048, dropout=0.1, fast=True),
        dict(steps=2000, batch_size=512, lr=5e-4, warmup_steps=400),
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m xattn.train", description="Train the date-translation model."
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--device", help="cpu, cuda, cuda:N or mps (default: the best available)"
    )
    parser.add_argument("--checkpoint", help="file to save the run to")
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint if it exists"
    )
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--stop-at-exact-match", type=float)
    parser.add_argument(
        "--no-amp",
        action="store_true",
        help="train in float32 even where bf16 is supported",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="attention through F.scaled_dot_product_attention",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--save-final",
        help="under torchrun: every rank writes its final weights to PATH.rankN.pt",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m xattn.train --preset cpu|gpu|base [options]``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = get_device(args.device)
    if distributed:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(
            "nccl" if device.type == "cuda" else "gloo"
        )
    model_kw, train_kw = (dict(d) for d in PRESETS[args.preset])
    for name in (
        "steps",
        "batch_size",
        "lr",
        "seed",
        "checkpoint_every",
        "eval_every",
        "stop_at_exact_match",
    ):
        if getattr(args, name) is not None:
            train_kw[name] = getattr(args, name)
    if args.no_amp:
        train_kw["amp"] = False
    if args.fast:
        model_kw["fast"] = True
    task = DateTask()
    train_cfg = TrainConfig(**train_kw)
    if args.resume and args.checkpoint and Path(args.checkpoint).exists():
        model_cfg = Seq2SeqConfig(**load_checkpoint(args.checkpoint)["model_config"])
    else:
        model_cfg = Seq2SeqConfig(
            len(task.source_vocab), len(task.target_vocab), **model_kw
        )
    seed_everything(train_cfg.seed)  # the same initial weights on every rank
    model = Seq2Seq(model_cfg)
    history = train(
        model,
        task,
        train_cfg,
        device=device,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=False if args.no_progress else None,
    )
    rank = torch.distributed.get_rank() if distributed else 0
    if rank == 0 and history.evals:
        log.info("final: %s", history.evals[-1])
    if args.save_final:
        suffix = f".rank{rank}.pt" if distributed else ".pt"
        torch.save(model.state_dict(), args.save_final + suffix)
    if distributed:
        torch.distributed.destroy_process_group()
    return 0
