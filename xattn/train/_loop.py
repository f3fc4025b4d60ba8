"""The training loop, and the validation it runs."""

from __future__ import annotations

import logging
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from xattn.checks import check_bool, check_positive_int, checked
from xattn.data import DateExample, DateTask
from xattn.decode import greedy_decode
from xattn.model import Seq2Seq
from xattn.train._checkpoints import (
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
    unwrap,
)
from xattn.train._config import History, TrainConfig, lr_factor
from xattn.utils import autocast_dtype, get_device, seed_everything

log = logging.getLogger("xattn")


def _check_model_and_task(model, task) -> None:
    if not isinstance(unwrap(model), Seq2Seq):
        raise ValueError(f"model must be an xattn.Seq2Seq, got {type(model).__name__}")
    if not isinstance(task, DateTask):
        raise ValueError(f"task must be an xattn.DateTask, got {type(task).__name__}")


def _check_evaluate(model, task, examples, device, batch_size=250) -> None:
    _check_model_and_task(model, task)
    if not examples or not all(isinstance(e, DateExample) for e in examples):
        raise ValueError(
            "examples must be a non-empty list of DateExample, e.g. "
            "task.examples('val', 500)"
        )
    check_positive_int("batch_size", batch_size)


@checked(_check_evaluate)
@torch.no_grad()
def evaluate(
    model: Seq2Seq,
    task: DateTask,
    examples,
    device: torch.device,
    batch_size: int = 250,
) -> dict:
    """Teacher-forced loss and token accuracy, and exact match of greedy decoding."""
    model = unwrap(model)
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


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("XATTN_PROGRESS", "1") != "0"


def _check_train(
    model,
    task,
    cfg=TrainConfig(),  # noqa: B008 (frozen, so safe to share)
    *,
    device=None,
    checkpoint=None,
    resume=False,
    progress=None,
) -> None:
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    _check_model_and_task(model, task)
    check_bool("resume", resume)
    if progress is not None:
        check_bool("progress", progress)


@checked(_check_train)
def train(
    model: Seq2Seq,
    task: DateTask,
    cfg: TrainConfig = TrainConfig(),  # noqa: B008 (frozen, so safe to share)
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
        set_rng_state(state["rng"])
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
