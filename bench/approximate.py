"""Kernelized attention against exact attention as the sequences grow (chapter 11).

    .venv/bin/python bench/approximate.py            # L = 128 ... 16384, forward
    .venv/bin/python bench/approximate.py --quick    # L up to 2048, a few seconds
    .venv/bin/python bench/approximate.py --backward # forward + backward

For each length L (queries and keys both, ``--lq`` fixes the queries instead), one
head of width 64 runs exact attention from scratch (``xattn.attention``),
PyTorch's fused ``F.scaled_dot_product_attention`` (SDPA) and
``xattn.approximate.kernel_attention`` with M positive random features, all on
the same inputs with a key padding mask that hides the last eighth of the keys,
round after round in rotating order. The table gives SDPA's median time and the
ratio of each other method to it (lower is faster; 1.00 is parity); below it,
the crossover: the first length from which the kernel stays faster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, markdown_table  # noqa: E402

import xattn  # noqa: E402
from xattn.approximate import draw_features, kernel_attention  # noqa: E402


def make_step(name: str, q, k, v, mask, features, backward: bool):
    """One call of a method, with its backward pass if asked."""

    def step():
        if name == "exact":
            out, _ = xattn.attention(q, k, v, mask)
        elif name == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            out, _ = kernel_attention(q, k, v, mask, features=features[name])
        if backward:
            out.sum().backward()

    return step


def crossover(lengths: list[int], fast: list[float], slow: list[float]) -> str:
    """From which length on ``fast`` stays below ``slow``, in words."""
    for i, length in enumerate(lengths):
        if all(f < s for f, s in zip(fast[i:], slow[i:])):
            return f"from Lk = {length}"
    return f"nowhere up to Lk = {lengths[-1]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="L up to 2048")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--features", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--d-head", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=16384)
    parser.add_argument("--lq", type=int, default=None, help="fixed query length")
    parser.add_argument("--backward", action="store_true", help="forward + backward")
    args = parser.parse_args(argv)
    device = xattn.get_device(args.device)
    top = min(args.max_len, 2048) if args.quick else args.max_len
    lengths = [2**p for p in range(7, top.bit_length()) if 2**p <= top]
    generator = torch.Generator().manual_seed(0)
    features = {
        f"kernel M={m}": draw_features(
            m, args.d_head, generator=generator, device=device
        )
        for m in args.features
    }
    names = ["sdpa", "exact", *features]
    medians: dict[str, list[float]] = {name: [] for name in names}
    for length in lengths:
        lq = length if args.lq is None else args.lq
        q, k, v = (
            torch.randn(1, 1, n, args.d_head, generator=generator)
            .to(device)
            .requires_grad_(args.backward)
            for n in (lq, length, length)
        )
        real = xattn.padding_mask([length - length // 8], max_len=length)
        mask = real.to(device)[:, None, None, :]  # (1, 1, 1, Lk)
        context = torch.enable_grad() if args.backward else torch.no_grad()
        with context:
            times = interleaved_medians(
                {
                    name: make_step(name, q, k, v, mask, features, args.backward)
                    for name in names
                },
                rounds=args.rounds,
                device=device,
            )
        for name in names:
            medians[name].append(times[name])
        print(
            f"L={length}: "
            + ", ".join(f"{name} {1000 * t:.2f} ms" for name, t in times.items()),
            file=sys.stderr,
        )
    rows = [
        [str(length), f"{1000 * medians['sdpa'][i]:.2f}"]
        + [f"{medians[name][i] / medians['sdpa'][i]:.2f}x" for name in names[1:]]
        for i, length in enumerate(lengths)
    ]
    queries = "Lq = Lk" if args.lq is None else f"Lq = {args.lq}"
    print(
        f"device: {device}, torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, one head, D_h = {args.d_head}, {queries}, "
        f"key padding mask; {'forward + backward' if args.backward else 'forward'}, "
        f"median of {args.rounds} rounds"
    )
    print(
        markdown_table(
            ["Lk", "SDPA (ms)", "xattn exact", *[f"{n}" for n in features]], rows
        )
    )
    for name in features:
        print(
            f"{name}: faster than xattn exact "
            f"{crossover(lengths, medians[name], medians['exact'])}, than SDPA "
            f"{crossover(lengths, medians[name], medians['sdpa'])}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
