"""Forward + backward time of MultiHeadCrossAttention against nn.MultiheadAttention.

    .venv/bin/python bench/attention.py            # the issue's shapes: D=512, H=8, B=8
    .venv/bin/python bench/attention.py --quick    # smaller shapes, a few seconds

For each shape the three layers get the same weights and the same inputs,
including a key padding mask (cross-attention into a padded source; ``--no-mask``
leaves it out), and run in rotating order; the table gives the median time of
PyTorch's module and the ratio of each xattn path to it (lower is faster; 1.00
is parity).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, markdown_table  # noqa: E402

import xattn  # noqa: E402


def step(layer, x, memory, keep, torch_module: bool):
    if torch_module:
        kpm = None if keep is None else ~keep
        out, _ = layer(x, memory, memory, key_padding_mask=kpm, need_weights=False)
    else:
        out, _ = layer(x, memory, keep)
    out.sum().backward()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-mask", action="store_true", help="no key padding mask")
    args = parser.parse_args(argv)
    device = xattn.get_device(args.device)
    d, h, b = (128, 4, 4) if args.quick else (512, 8, 8)
    shapes = [(lq, lk) for lq in (128, 512) for lk in (128, 512, 2048)]
    if args.quick:
        shapes = [(lq, lk) for lq in (32, 128) for lk in (32, 128, 512)]
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(d, h, batch_first=True).to(device)
    scratch = xattn.load_torch_multihead_attention(
        xattn.MultiHeadCrossAttention(d, h), reference
    ).to(device)
    fast = xattn.load_torch_multihead_attention(
        xattn.MultiHeadCrossAttention(d, h, fast=True), reference
    ).to(device)
    rows = []
    for lq, lk in shapes:
        x = torch.randn(b, lq, d, device=device, requires_grad=True)
        memory = torch.randn(b, lk, d, device=device, requires_grad=True)
        lengths = torch.linspace(lk // 2, lk, b).long()  # every item padded differently
        keep = None if args.no_mask else xattn.padding_mask(lengths, lk).to(device)
        inputs = (x, memory, keep)
        times = interleaved_medians(
            {
                "torch": lambda: step(reference, *inputs, True),  # noqa: B023 (used at once)
                "scratch": lambda: step(scratch, *inputs, False),  # noqa: B023
                "fast": lambda: step(fast, *inputs, False),  # noqa: B023
            },
            rounds=args.rounds,
            device=device,
        )
        rows.append(
            [
                f"{lq}",
                f"{lk}",
                f"{1000 * times['torch']:.1f}",
                f"{times['scratch'] / times['torch']:.2f}x",
                f"{times['fast'] / times['torch']:.2f}x",
            ]
        )
        print(
            f"Lq={lq} Lk={lk}: "
            + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in times.items()),
            file=sys.stderr,
        )
    print(
        f"device: {device}, torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, D={d}, H={h}, B={b}, "
        f"{'no mask' if args.no_mask else 'key padding mask'}; forward + backward, "
        f"median of {args.rounds} rounds"
    )
    print(
        markdown_table(
            [
                "Lq",
                "Lk",
                "nn.MultiheadAttention (ms)",
                "xattn from scratch",
                "xattn fast path",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
