"""One training loop for the notebook and the command line.

    python -m xattn.train --preset cpu        # the chapter 8 model, on this machine
    python -m xattn.train --preset gpu --checkpoint runs/date.pt
    torchrun --nproc_per_node=4 -m xattn.train --preset gpu   # one process per GPU

AdamW with linear warm-up then cosine decay, gradient clipping, bf16 autocast
on CUDA, a tqdm progress bar, and checkpoints that resume a run to exactly the
losses it would have had without the interruption: every batch is a pure
function of (seed, step, rank), and the checkpoint holds the model, optimizer,
scheduler and random-number states.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from xattn.checks import check_bool, check_int, check_number, check_positive_int
from xattn.data import DateTask
from xattn.decode import greedy_decode
from xattn.model import Seq2Seq, Seq2SeqConfig
from xattn.utils import autocast_dtype, get_device, seed_everything

__all__ = [
    "TrainConfig",
    "History",
    "lr_factor",
    "evaluate",
    "train",
    "save_checkpoint",
    "load_checkpoint",
    "PRESETS",
    "main",
    "model_from_checkpoint",
]

log = logging.getLogger("xattn")


@dataclass(frozen=True)
class TrainConfig:
    """How to train, checked when made; the defaults train chapter 8's CPU model."""

    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3  # peak learning rate, reached at the end of warm-up
    warmup_steps: int = (
        100  # linear warm-up avoids early divergence (Goyal et al. 2017)
    )
    min_lr_ratio: float = 0.05  # the cosine decays to this fraction of lr
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)  # as in Vaswani et al. 2017
    grad_clip: float = (
        1.0  # clip the global gradient norm (Pascanu et al. 2013); 0 turns it off
    )
    label_smoothing: float = 0.0
    eval_every: int = 250  # steps between validation runs; 0: only at the end
    eval_examples: int = 500
    stop_at_exact_match: float | None = (
        None  # stop once validation exact match reaches this
    )
    seed: int = 0
    amp: bool = True  # bf16 autocast where the device supports it
    checkpoint_every: int = 0  # steps between checkpoints; 0: only at the end

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            check_positive_int(name, getattr(self, name))
        for name in (
            "warmup_steps",
            "eval_every",
            "checkpoint_every",
            "eval_examples",
            "seed",
        ):
            check_int(name, getattr(self, name))
        check_number("lr", self.lr, 0.0, 1.0, low_open=True, high_open=True)
        check_number("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        check_number("weight_decay", self.weight_decay, 0.0)
        check_number("grad_clip", self.grad_clip, 0.0)
        check_number("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {self.betas!r}")
        for i, beta in enumerate(self.betas):
            check_number(f"betas[{i}]", beta, 0.0, 1.0, high_open=True)
        if self.stop_at_exact_match is not None:
            check_number(
                "stop_at_exact_match", self.stop_at_exact_match, 0.0, 1.0, low_open=True
            )
        check_bool("amp", self.amp)


@dataclass
class History:
    """What a run records: per step, and per validation."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    # step, val_loss, token_accuracy, exact_match, seconds
    evals: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(**d)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """The learning rate at ``step`` as a share of ``cfg.lr``: warm-up, cosine decay."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = min(
        1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    )
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (
        1 + math.cos(math.pi * progress)
    )


def _unwrap(model: torch.nn.Module) -> Seq2Seq:
    return model.module if hasattr(model, "module") else model


@torch.no_grad()
def evaluate(
    model: Seq2Seq,
    task: DateTask,
    examples,
    device: torch.device,
    batch_size: int = 250,
) -> dict:
    """Teacher-forced loss and token accuracy, and exact match of greedy decoding."""
    model = _unwrap(model)
    was_training = model.training
    model.eval()
    loss_sum, tokens, correct_tokens, exact = 0.0, 0, 0, 0
    for i in range(0, len(examples), batch_size):
        src, tgt_in, tgt_out = task.encode(examples[i : i + batch_size], device)
        logits = model(src, tgt_in)
        real = tgt_out != task.target_vocab.pad_id
        loss_sum += F.cross_entropy(
            logits[real].float(), tgt_out[real], reduction="sum"
        ).item()
        tokens += int(real.sum())
        correct_tokens += int((logits.argmax(-1) == tgt_out)[real].sum())
        out, _ = greedy_decode(
            model,
            src,
            max_len=tgt_out.shape[1],
            bos_id=task.target_vocab.bos_id,
            eos_id=task.target_vocab.eos_id,
        )
        exact += sum(
            task.target_vocab.decode(o) == e.target
            for o, e in zip(out.tolist(), examples[i : i + batch_size])
        )
    model.train(was_training)
    return {
        "val_loss": loss_sum / tokens,
        "token_accuracy": correct_tokens / tokens,
        "exact_match": exact / len(examples),
    }


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
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
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "rng": _rng_state(),
        "model_config": _unwrap(model).cfg.to_dict(),
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


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("XATTN_PROGRESS", "1") != "0"


def train(
    model: Seq2Seq,
    task: DateTask,
    cfg: TrainConfig = TrainConfig(),
    *,
    device: torch.device | str | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> History:
    """Train ``model`` on ``task``; returns the run's :class:`History`.

    Args:
        model: the model; moved to ``device``.
        task: where the batches come from.
        cfg: the training settings.
        device: default :func:`xattn.get_device`.
        checkpoint: file to save to, every ``cfg.checkpoint_every`` steps and at the end
        resume: continue from ``checkpoint`` if it exists.
        progress: show a progress bar; None reads ``XATTN_PROGRESS`` (``0``: off).

    Under ``torchrun`` (``torch.distributed`` initialized), the model is wrapped
    in DistributedDataParallel, each rank draws its own batches, and only rank
    0 writes checkpoints.
    """
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    if not isinstance(_unwrap(model), Seq2Seq):
        raise ValueError(f"model must be an xattn.Seq2Seq, got {type(model).__name__}")
    if not isinstance(task, DateTask):
        raise ValueError(f"task must be an xattn.DateTask, got {type(task).__name__}")
    from tqdm.auto import tqdm

    distributed = (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    )
    rank = torch.distributed.get_rank() if distributed else 0
    device = get_device(device) if not isinstance(device, torch.device) else device
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg)
    )
    history, start = History(), 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        history, start = History.from_dict(state["history"]), state["step"]
        log.info("resumed from %s at step %d", checkpoint, start)
    else:
        seed_everything(cfg.seed)  # dropout masks, repeatable from the seed
    trainer = model
    if distributed:
        trainer = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    amp_dtype = autocast_dtype(device) if cfg.amp else None
    autocast = (
        torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext()
    )
    pad = task.target_vocab.pad_id
    val = task.examples("val", cfg.eval_examples, seed=0) if cfg.eval_examples else []
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        disable=not _progress_enabled(progress) or rank != 0,
        desc="training",
        unit="step",
    )
    model.train()
    began = time.perf_counter() - (
        history.evals[-1]["seconds"] if history.evals else 0.0
    )
    for step in range(start, cfg.steps):
        tick = time.perf_counter()
        src, tgt_in, tgt_out = task.batch(step, cfg.batch_size, cfg.seed, rank, device)
        with autocast:
            logits = trainer(src, tgt_in)  # (B, Lq, V)
        loss = F.cross_entropy(
            logits.float().flatten(0, 1),
            tgt_out.flatten(),
            ignore_index=pad,
            label_smoothing=cfg.label_smoothing,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        if distributed:
            torch.distributed.all_reduce(
                loss.detach(), op=torch.distributed.ReduceOp.AVG
            )
        value = loss.item()
        n_tokens = int((src != pad).sum() + (tgt_out != pad).sum())
        history.step.append(step + 1)
        history.loss.append(value)
        history.lr.append(scheduler.get_last_lr()[0])
        history.tokens_per_s.append(n_tokens / max(time.perf_counter() - tick, 1e-9))
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}")
        done = step + 1 == cfg.steps
        if val and ((cfg.eval_every and (step + 1) % cfg.eval_every == 0) or done):
            result = evaluate(model, task, val, device)
            result.update(step=step + 1, seconds=time.perf_counter() - began)
            history.evals.append(result)
            log.info(
                "step %d: %s", step + 1, {k: round(v, 4) for k, v in result.items()}
            )
            if (
                cfg.stop_at_exact_match
                and result["exact_match"] >= cfg.stop_at_exact_match
            ):
                done = True
        if (
            checkpoint is not None
            and rank == 0
            and (
                done
                or (cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0)
            )
        ):
            save_checkpoint(
                checkpoint,
                model,
                optimizer,
                scheduler,
                step + 1,
                history,
                cfg,
                task.locales,
            )
        if done:
            break
    bar.close()
    return history


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


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m xattn.train --preset cpu|gpu|base [options]``."""
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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
