"""Reversible layers against ordinary backprop and checkpointing: memory and step time.

    .venv/bin/python bench/reversible.py            # 16 decoder layers, B = 8, L = 128
    .venv/bin/python bench/reversible.py --quick    # smaller shapes, a few seconds

One stack of :class:`xattn.reversible.ReversibleDecoderBlock` modules, run three
ways for the same gradients: ordinary autograd (every activation kept),
``torch.utils.checkpoint`` around each block (``use_reentrant=False``; each
block's inputs kept, the block recomputed) and
:class:`xattn.reversible.ReversibleFunction` (only the top outputs and the
memory kept; the inputs rebuilt from the outputs). Memory is what autograd saves
for the backward pass (``xattn.saved_tensor_bytes``) and the peak of tensor
storage during the forward pass (``xattn.peak_tensor_bytes``), both exact and
the same on every run. Step times (forward + backward) are medians of rounds run
side by side in rotating order, given as ratios to ordinary autograd.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, markdown_table  # noqa: E402

import xattn  # noqa: E402
from xattn.reversible import MODES, ReversibleDecoderBlock, ReversibleStack  # noqa: E402


def step(stack, x, memory, mode: str) -> None:
    y1, y2 = stack(x, x, memory, mode=mode)
    ((y1 + y2) ** 2).mean().backward()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layers", type=int, default=16)
    args = parser.parse_args(argv)
    device = xattn.get_device(args.device)
    b, length, d, heads = (4, 32, 64, 4) if args.quick else (8, 128, 128, 4)
    torch.manual_seed(0)
    blocks = [ReversibleDecoderBlock(d, heads, 4 * d) for _ in range(args.layers)]
    stack = ReversibleStack(blocks).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    x, memory = (
        torch.randn(b, length, d, generator=g, device=device).requires_grad_()
        for _ in range(2)
    )
    calls = {mode: functools.partial(step, stack, x, memory, mode) for mode in MODES}
    times = interleaved_medians(calls, rounds=args.rounds, device=device)
    rows = []
    for mode in MODES:

        def forward(mode=mode):
            return stack(x, x, memory, mode=mode)

        saved = xattn.saved_tensor_bytes(forward)[1]
        peak = xattn.peak_tensor_bytes(forward)[1]
        rows.append(
            [
                mode,
                f"{saved / 2**20:.2f}",
                f"{peak / 2**20:.2f}",
                f"{1000 * times[mode]:.1f}",
                f"{times[mode] / times['autograd']:.2f}x",
            ]
        )
    print(
        f"device: {device}, torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, {args.layers} decoder layers, B={b}, L=Lk="
        f"{length}, D={d}, H={heads}; forward + backward, median of {args.rounds} "
        "rounds; memory of the forward pass"
    )
    print(
        markdown_table(
            [
                "stack",
                "saved for backward (MiB)",
                "forward peak (MiB)",
                "step (ms)",
                "step / autograd",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
