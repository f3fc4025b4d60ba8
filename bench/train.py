"""Training and decoding speed of the xattn Seq2Seq on the date task.

    .venv/bin/python bench/train.py                 # all three measurements, CPU
    .venv/bin/python bench/train.py --only step     # one of: step, converge, decode

1. step: training step time of xattn's Seq2Seq (from-scratch attention and the
   SDPA fast path) against ``nn.Transformer`` of the same size with the same
   embeddings and output layer, on the same batches, in rotating order;
   reported as tokens/s and as a ratio of step times (target: <= 1.0x).
2. converge: wall-clock seconds of training until greedy decoding gets 99%
   of the validation dates exactly right (target: <= 60 s on 2 CPU cores).
3. decode: cached against uncached greedy decoding of 64 tokens from sources
   of 512 tokens (target: cached >= 3x faster).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, markdown_table  # noqa: E402

import xattn  # noqa: E402
from xattn.data import DateTask  # noqa: E402
from xattn.decode import greedy_decode  # noqa: E402
from xattn.train import PRESETS, TrainConfig, train  # noqa: E402


class TorchSeq2Seq(nn.Module):
    """nn.Transformer with xattn.Seq2Seq's embeddings, positions and tied output."""

    def __init__(self, cfg: xattn.Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(
            cfg.src_vocab_size, cfg.d_model, padding_idx=cfg.pad_id
        )
        self.tgt_embed = nn.Embedding(
            cfg.tgt_vocab_size, cfg.d_model, padding_idx=cfg.pad_id
        )
        self.positions = xattn.SinusoidalPositionalEncoding(cfg.d_model, cfg.max_len)
        with warnings.catch_warnings():
            # nn.Transformer's note about its nested-tensor fast path
            warnings.simplefilter("ignore")
            self.transformer = nn.Transformer(
                cfg.d_model,
                cfg.n_heads,
                cfg.n_layers,
                cfg.decoder_layers,
                cfg.ff_width,
                cfg.dropout,
                batch_first=True,
                norm_first=cfg.norm_first,
            )
        self.generator = nn.Linear(cfg.d_model, cfg.tgt_vocab_size, bias=False)
        self.generator.weight = self.tgt_embed.weight

    def forward(self, src, tgt_in):
        scale = math.sqrt(self.cfg.d_model)
        s = self.positions(self.src_embed(src) * scale)
        t = self.positions(self.tgt_embed(tgt_in) * scale)
        causal = ~xattn.causal_mask(tgt_in.shape[1], device=src.device)
        pad = self.cfg.pad_id
        h = self.transformer(
            s,
            t,
            tgt_mask=causal,
            src_key_padding_mask=src == pad,
            memory_key_padding_mask=src == pad,
            tgt_key_padding_mask=tgt_in == pad,
        )
        return self.generator(h)


def bench_step(task: DateTask, preset: str, rounds: int, device: torch.device) -> str:
    model_kw, train_kw = PRESETS[preset]
    cfg = xattn.Seq2SeqConfig(
        len(task.source_vocab), len(task.target_vocab), **model_kw
    )
    xattn.seed_everything(0)
    models = {
        "nn.Transformer": TorchSeq2Seq(dataclasses.replace(cfg, fast=False)),
        "xattn from scratch": xattn.Seq2Seq(dataclasses.replace(cfg, fast=False)),
        "xattn fast path": xattn.Seq2Seq(dataclasses.replace(cfg, fast=True)),
    }
    for m in models.values():
        m.to(device).train()
    optimizers = {
        k: torch.optim.AdamW(m.parameters(), lr=1e-3) for k, m in models.items()
    }
    batch_size = train_kw["batch_size"]
    batches = [
        task.batch(s, batch_size, seed=0, device=device) for s in range(rounds + 3)
    ]
    counters = {k: 0 for k in models}

    def make(name):
        def run():
            src, tgt_in, tgt_out = batches[counters[name] % len(batches)]
            counters[name] += 1
            logits = models[name](src, tgt_in)
            loss = F.cross_entropy(
                logits.flatten(0, 1), tgt_out.flatten(), ignore_index=cfg.pad_id
            )
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[name].step()

        return run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = interleaved_medians(
            {k: make(k) for k in models}, rounds=rounds, device=device
        )
    tokens = sum(int((s != 0).sum() + (o != 0).sum()) for s, _, o in batches) / len(
        batches
    )
    n_params = sum(p.numel() for p in models["xattn from scratch"].parameters())
    ref = times["nn.Transformer"]
    rows = [
        [k, f"{1000 * t:.1f}", f"{tokens / t:,.0f}", f"{t / ref:.2f}x"]
        for k, t in times.items()
    ]
    return (
        f"Training step, preset '{preset}' ({n_params:,} parameters, batch "
        f"{batch_size}, "
        f"{tokens:.0f} real tokens per batch), median of {rounds} rounds:\n\n"
        + markdown_table(
            ["model", "step (ms)", "tokens/s", "step time vs nn.Transformer"], rows
        )
    )


def bench_converge(task: DateTask, device: torch.device) -> str:
    model_kw, train_kw = PRESETS["cpu"]
    xattn.seed_everything(0)
    model = xattn.Seq2Seq(
        xattn.Seq2SeqConfig(len(task.source_vocab), len(task.target_vocab), **model_kw)
    )
    cfg = TrainConfig(
        **{
            **train_kw,
            "eval_every": 100,
            "eval_examples": 500,
            "stop_at_exact_match": 0.99,
        }
    )
    start = time.perf_counter()
    history = train(model, task, cfg, device=device, progress=False)
    wall = time.perf_counter() - start
    last = history.evals[-1]
    reached = last["exact_match"] >= 0.99
    return (
        "Time to 99% exact match (preset 'cpu', validated every 100 steps on 500 "
        "dates): "
        f"{'reached' if reached else 'NOT reached'} at step {last['step']} with "
        f"{last['exact_match']:.1%}, "
        f"{wall:.1f} s wall-clock including validation."
    )


def bench_decode(rounds: int, device: torch.device) -> str:
    xattn.seed_everything(0)
    cfg = xattn.Seq2SeqConfig(
        64, 64, d_model=256, n_heads=8, n_layers=3, d_ff=1024, dropout=0.0, max_len=600
    )
    model = xattn.Seq2Seq(cfg).to(device).eval()
    src = torch.randint(4, 64, (8, 512), device=device)
    # eos_id=-1 is never written, so every run decodes all 64 tokens.
    runs = {
        "uncached": lambda: greedy_decode(
            model, src, max_len=64, eos_id=-1, use_cache=False
        ),
        "cached": lambda: greedy_decode(
            model, src, max_len=64, eos_id=-1, use_cache=True
        ),
    }
    a, _ = runs["uncached"]()
    b, _ = runs["cached"]()
    assert torch.equal(a, b), "cached and uncached decoding disagree"
    times = interleaved_medians(runs, rounds=rounds, warmup=1, device=device)
    return (
        "Greedy decoding of 64 tokens, batch 8, source length 512, d_model 256, 3+3 "
        "layers: "
        f"uncached {times['uncached']:.2f} s, cached {times['cached']:.2f} s, "
        f"speed-up {times['uncached'] / times['cached']:.1f}x (same tokens)."
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["step", "converge", "decode"])
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    device = xattn.get_device(args.device)
    task = DateTask()
    print(
        f"device: {device}, torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}\n"
    )
    if args.only in (None, "step"):
        print(bench_step(task, args.preset, args.rounds, device), "\n")
    if args.only in (None, "converge"):
        print(bench_converge(task, device), "\n")
    if args.only in (None, "decode"):
        print(bench_decode(max(3, args.rounds // 10), device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
