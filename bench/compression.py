"""Int8 and pruned models (xattn.quantize, xattn.prune) against float32: time, size.

    .venv/bin/python bench/compression.py            # the date model, 1,000 dates
    .venv/bin/python bench/compression.py --quick    # fewer dates and rounds

Three tables, each measured side by side in one run, in rotating order, as
medians of rounds; times are given as ratios to float32 measured in the same
rounds. (1) Linear layers: ``nn.Linear`` against ``xattn.quantize.Int8Linear``
(int8 x int8 through ``torch._int_mm``, and int8 weights only) and PyTorch's
deprecated ``quantize_dynamic``, on the date model's shapes and on a
512-2048-512 feed-forward layer. (2) Whole-model greedy decoding of the test
dates: float32, the two int8 models, bfloat16. (3) The model with its three
least important decoder self-attention heads removed (``prune_heads``, as
chapter 13 picks them) against the full model. Int8 runs on the CPU.
"""

import argparse
import copy
import functools
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, markdown_table  # noqa: E402

import xattn  # noqa: E402
import xattn.pretrained  # noqa: E402
from xattn.importance import head_importance  # noqa: E402
from xattn.prune import prune_heads  # noqa: E402
from xattn.quantize import Int8Linear, model_bytes, quantize_model  # noqa: E402


def torch_dynamic(module: nn.Module) -> nn.Module:
    """PyTorch's dynamic int8 quantization, its deprecation warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def quiet(fn):
    """``fn`` under no_grad, with the quantized layers' warnings silenced."""

    def call():
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()

    return call


def linear_table(rounds: int) -> str:
    shapes = [(1000, 64, 64), (1000, 64, 256), (1000, 256, 64)]
    shapes += [(512, 512, 2048), (512, 2048, 512)]
    g = torch.Generator().manual_seed(0)
    rows = []
    for m, k, n in shapes:
        lin = nn.Linear(k, n)
        x = torch.randn(m, k, generator=g)
        ours, w_only = Int8Linear.from_linear(lin), Int8Linear.from_linear(lin, False)
        dyn = torch_dynamic(nn.Sequential(lin))
        xq = torch.randint(-127, 128, (m, k), generator=g, dtype=torch.int8)
        calls = {
            "float32": quiet(functools.partial(lin, x)),
            "int8": quiet(functools.partial(ours, x)),
            "w only": quiet(functools.partial(w_only, x)),
            "dynamic": quiet(functools.partial(dyn, x)),
            "_int_mm": quiet(functools.partial(torch._int_mm, xq, ours.weight_q.T)),
        }
        t = interleaved_medians(calls, rounds=rounds)
        rows.append(
            [f"({m}, {k}, {n})", f"{1000 * t['float32']:.3f}"]
            + [f"{t['float32'] / t[name]:.2f}x" for name in list(calls)[1:]]
        )
    header = ["(M, K, N)", "float32 (ms)", "int8 x int8", "int8 weights"]
    return markdown_table(header + ["quantize_dynamic", "_int_mm alone"], rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    n_test = 200 if args.quick else 1000
    task = xattn.DateTask()
    vocab = task.target_vocab
    model = xattn.pretrained.date_model()
    test = task.examples("test", n_test, seed=0)
    src, _, tgt_out = task.encode(test, "cpu")

    def decode(m):
        xattn.greedy_decode(
            m, src, tgt_out.shape[1], bos_id=vocab.bos_id, eos_id=vocab.eos_id
        )

    models = {
        "float32": model,
        "int8 x int8": quantize_model(model),
        "int8 weights": quantize_model(model, activations=False),
        "bfloat16": copy.deepcopy(model).to(torch.bfloat16),
        "float32 again": model,  # how far the timings differ from themselves
    }
    t = interleaved_medians(
        {name: quiet(functools.partial(decode, m)) for name, m in models.items()},
        rounds=rounds,
    )
    decode_rows = [
        [
            name,
            f"{1000 * t[name]:.0f}",
            f"{t['float32'] / t[name]:.2f}x",
            f"{model_bytes(m):,}",
        ]
        for name, m in models.items()
    ]

    val = task.examples("val", 1000, seed=0)
    batches = [task.encode(val[i : i + 100], "cpu") for i in range(0, 1000, 100)]
    importance = head_importance(model, batches, pad_id=vocab.pad_id)
    name = "decoder.layers.1.self_attn"
    drop = importance[name].argsort()[:3].tolist()  # chapter 13's three heads
    small = prune_heads(model, {name: [h for h in range(4) if h not in drop]})
    pt = interleaved_medians(
        {
            "full": quiet(functools.partial(decode, model)),
            "pruned": quiet(functools.partial(decode, small)),
        },
        rounds=rounds,
    )
    full_p = xattn.count_parameters(model)["total"]
    small_p = xattn.count_parameters(small)["total"]
    prune_rows = [
        ["full", f"{1000 * pt['full']:.0f}", "1.00x", f"{full_p:,}"],
        [
            f"pruned (heads {drop} of {name})",
            f"{1000 * pt['pruned']:.0f}",
            f"{pt['full'] / pt['pruned']:.2f}x",
            f"{small_p:,}",
        ],
    ]
    print(
        f"device: cpu, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"median of {rounds} rounds; {n_test} test dates decoded greedily; "
        f"AVX512-VNNI (oneDNN's int8 GEMM for torch._int_mm): "
        f"{torch.cpu._is_vnni_supported()}"
    )
    print("\nLinear layers, M tokens, K in, N out (speed relative to float32):\n")
    print(linear_table(rounds))
    print("\nWhole-model greedy decoding:\n")
    header = ["model", "decode (ms)", "speed vs float32", "bytes"]
    print(markdown_table(header, decode_rows))
    print("\nHead pruning, greedy decoding:\n")
    print(markdown_table(["model", "decode (ms)", "speed", "parameters"], prune_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
