"""Training throughput and model FLOPs utilisation (MFU) of a base Seq2Seq on a GPU.

    .venv/bin/python bench/gpu.py                       # D 512, 8 heads, 6+6 layers
    .venv/bin/python bench/gpu.py --compile             # the same under torch.compile
    .venv/bin/python bench/gpu.py --device cpu --tiny   # a smoke test of the script

MFU is the model's floating-point operations per second divided by the GPU's
peak (Chowdhery et al. 2022). The operations of one training step (forward and
backward) are counted once with ``torch.utils.flop_counter.FlopCounterMode`` on a
copy of the model that uses the from-scratch attention, whose matrix products the
counter sees on every device (it has no formula for some fused kernels); the
peak is the dense bf16 figure of the GPU's data sheet, or ``--peak-tflops``.
Sequences are random token ids of fixed lengths, so the measurement is of the
model, not of the data pipeline.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import xattn  # noqa: E402

# Dense bf16 tensor-core peaks from NVIDIA's data sheets, in TFLOP/s.
PEAK_BF16_TFLOPS = {
    "H100 SXM": 989.4,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 989.4,
    "H200": 989.4,
    "A100": 312.0,
    "L40S": 362.0,
    "RTX 4090": 165.2,
}


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if key.replace(" ", "").lower() in name.replace(" ", "").lower():
            return PEAK_BF16_TFLOPS[key]
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--src-len", type=int, default=256)
    parser.add_argument("--tgt-len", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--no-fast",
        action="store_true",
        help="the from-scratch attention instead of SDPA",
    )
    parser.add_argument(
        "--peak-tflops", type=float, help="override the GPU's dense bf16 peak"
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a small model and few steps, to test the script",
    )
    args = parser.parse_args(argv)
    device = xattn.get_device(args.device)
    size = dict(d_model=512, n_heads=8, n_layers=6, d_ff=2048)
    if args.tiny:
        size = dict(d_model=64, n_heads=4, n_layers=1, d_ff=128)
        (
            args.batch_size,
            args.src_len,
            args.tgt_len,
            args.vocab,
            args.steps,
            args.warmup,
        ) = 4, 32, 32, 100, 3, 1
    cfg = xattn.Seq2SeqConfig(
        args.vocab,
        args.vocab,
        **size,
        dropout=0.1,
        share_embeddings=True,
        max_len=max(args.src_len, args.tgt_len),
        fast=not args.no_fast,
    )
    xattn.seed_everything(0)
    model = xattn.Seq2Seq(cfg).to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4, fused=device.type == "cuda"
    )
    amp_dtype = xattn.autocast_dtype(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    src = torch.randint(
        4, args.vocab, (args.batch_size, args.src_len), generator=gen
    ).to(device)
    tgt = torch.randint(
        4, args.vocab, (args.batch_size, args.tgt_len + 1), generator=gen
    ).to(device)
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    forward = torch.compile(model) if args.compile else model

    def step():
        with torch.autocast(
            device.type, dtype=amp_dtype, enabled=amp_dtype is not None
        ):
            logits = forward(src, tgt_in)
        loss = F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    counting = xattn.Seq2Seq(dataclasses.replace(cfg, fast=False)).to(device).train()
    counting.load_state_dict(model.state_dict())
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(
            device.type, dtype=amp_dtype, enabled=amp_dtype is not None
        ):
            logits = counting(src, tgt_in)
        F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten()).backward()
    flops_per_step = counter.get_total_flops()
    del counting, logits
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()  # waits for the GPU
    seconds = (time.perf_counter() - start) / args.steps
    tokens = args.batch_size * (args.src_len + args.tgt_len)
    achieved = flops_per_step / seconds / 1e12
    peak = args.peak_tflops or peak_tflops(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(
        f"device: {name}; torch {torch.__version__}; autocast {amp_dtype}; compile "
        f"{args.compile}; "
        f"attention {'from scratch' if args.no_fast else 'SDPA fast path'}"
    )
    print(
        f"model: {n_params / 1e6:.1f}M parameters; batch {args.batch_size} x "
        f"({args.src_len} + {args.tgt_len}) tokens"
    )
    print(
        f"step: {1000 * seconds:.1f} ms; {tokens / seconds:,.0f} tokens/s; "
        f"{flops_per_step / 1e9:,.1f} GFLOP per step; {achieved:.3g} TFLOP/s achieved"
    )
    if peak:
        print(f"MFU: {100 * achieved / peak:.1f}% of a {peak:.0f} TFLOP/s bf16 peak")
    else:
        print("MFU: no peak known for this device (pass --peak-tflops)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
