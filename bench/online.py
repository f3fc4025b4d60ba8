"""Blockwise attention (xattn.online) against naive attention and SDPA: time and memory.

    .venv/bin/python bench/online.py             # Lq = 512, Lk = 2k, 8k, 16k; H = 8
    .venv/bin/python bench/online.py --backward  # forward + backward
    .venv/bin/python bench/online.py --quick     # smaller shapes, a few seconds

Three implementations of the same exact attention, one batch item with H heads
of width 64: ``xattn.attention`` (naive: the full score matrix),
``F.scaled_dot_product_attention`` (PyTorch's fused kernels) and
``xattn.online_attention`` (key blocks, an online softmax, a backward pass that
recomputes). Times are medians of rounds run side by side in rotating order,
given as ratios to SDPA; memory is the peak of tensor storage allocated during
the call (``xattn.peak_tensor_bytes``; exact, and the same on every run).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, markdown_table  # noqa: E402

import xattn  # noqa: E402


def run(fn, q, k, v, backward: bool) -> None:
    out = fn(q, k, v)
    out = out[0] if isinstance(out, tuple) else out
    if backward:
        out.sum().backward()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backward", action="store_true", help="forward + backward")
    parser.add_argument("--block-size", type=int, default=256)
    args = parser.parse_args(argv)
    device = xattn.get_device(args.device)
    lq, heads, dh = (128, 2, 32) if args.quick else (512, 8, 64)
    lks = [512, 1024, 2048] if args.quick else [2048, 8192, 16384]
    impls = {
        "naive": xattn.attention,
        "sdpa": F.scaled_dot_product_attention,
        "online": functools.partial(xattn.online_attention, block_size=args.block_size),
    }
    rows = []
    for lk in lks:
        g = torch.Generator(device=device).manual_seed(0)
        q, k, v = (
            torch.randn(1, heads, n, dh, generator=g, device=device).requires_grad_(
                args.backward
            )
            for n in (lq, lk, lk)
        )
        calls = {
            name: functools.partial(run, fn, q, k, v, args.backward)
            for name, fn in impls.items()
        }
        times = interleaved_medians(calls, rounds=args.rounds, device=device)
        with torch.no_grad():
            peak = {
                name: xattn.peak_tensor_bytes(functools.partial(fn, q, k, v))[1]
                for name, fn in impls.items()
            }
        rows.append(
            [
                f"{lk:,}",
                f"{1000 * times['sdpa']:.1f}",
                f"{times['naive'] / times['sdpa']:.2f}x",
                f"{times['online'] / times['sdpa']:.2f}x",
                f"{peak['naive'] / 2**20:.1f}",
                f"{peak['sdpa'] / 2**20:.2f}",
                f"{peak['online'] / 2**20:.2f}",
                f"1/{peak['naive'] / peak['online']:.0f}",
            ]
        )
        print(
            f"Lk={lk}: "
            + ", ".join(f"{name} {1000 * t:.1f} ms" for name, t in times.items()),
            file=sys.stderr,
        )
    print(
        f"device: {device}, torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, Lq={lq}, H={heads}, Dh={dh}, B=1, block "
        f"{args.block_size}; {'forward + backward' if args.backward else 'forward'}, "
        f"median of {args.rounds} rounds; peak memory of the forward pass"
    )
    print(
        markdown_table(
            [
                "Lk",
                "SDPA (ms)",
                "naive / SDPA",
                "online / SDPA",
                "naive peak (MiB)",
                "SDPA peak (MiB)",
                "online peak (MiB)",
                "online / naive peak",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
