"""Counting parameters and floating-point operations.

The formulas here are checked against instantiated modules in the tests and in
chapters 6 and 7, so the arithmetic in the prose cannot drift from the code.
"""

from __future__ import annotations

from torch import nn

from xattn.checks import check_bool, check_int, check_positive_int

__all__ = [
    "count_parameters",
    "attention_parameter_count",
    "attention_flops",
    "transformer_parameter_count",
]


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level component of ``model``, and ``"total"``.

    A parameter shared between components (tied embeddings) is counted once,
    under the first component that holds it; a component whose parameters were
    all counted before shows 0. Components without parameters are left out.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    counts: dict[str, int] = {}
    seen: set[int] = set()
    for (
        name,
        child,
    ) in (
        model._modules.items()
    ):  # unlike named_children(), keeps a module shared under two names
        if child is None or next(child.parameters(), None) is None:
            continue  # dropout, fixed positional tables: nothing to count
        n = 0
        for p in child.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        counts[name] = n
    own = sum(p.numel() for p in model.parameters(recurse=False) if id(p) not in seen)
    if own:
        counts["(own)"] = own
    counts["total"] = sum(
        p.numel() for p in {id(p): p for p in model.parameters()}.values()
    )
    return counts


def attention_parameter_count(
    d_model: int, bias: bool = True, d_memory: int | None = None
) -> int:
    """Parameters of one multi-head attention layer: four projections to D (and biases).

    The query and output projections are D x D; the key and value projections
    read the memory, d_memory x D (d_memory = D unless given). The number of
    heads does not appear: heads split D, they do not add weights.
    """
    check_positive_int("d_model", d_model)
    check_bool("bias", bias)
    d_memory = d_model if d_memory is None else d_memory
    check_positive_int("d_memory", d_memory)
    return 2 * d_model * d_model + 2 * d_memory * d_model + (4 * d_model if bias else 0)


def attention_flops(
    batch: int, len_q: int, len_k: int, d_model: int, d_memory: int | None = None
) -> dict[str, int]:
    """Floating-point operations of one multi-head attention forward pass.

    A multiply-add counts 2.

    Only the matrix products are counted; softmax and masking are O(B H Lq Lk)
    and small beside them. The number of heads cancels here too.
    """
    for name, value in (("batch", batch), ("len_q", len_q), ("len_k", len_k)):
        check_int(name, value)
    check_positive_int("d_model", d_model)
    d_memory = d_model if d_memory is None else d_memory
    check_positive_int("d_memory", d_memory)
    counts = {
        "q_proj": 2 * batch * len_q * d_model * d_model,
        "k_proj": 2 * batch * len_k * d_memory * d_model,
        "v_proj": 2 * batch * len_k * d_memory * d_model,
        "scores": 2 * batch * len_q * len_k * d_model,
        "aggregate": 2 * batch * len_q * len_k * d_model,
        "out_proj": 2 * batch * len_q * d_model * d_model,
    }
    counts["total"] = sum(counts.values())
    return counts


def transformer_parameter_count(
    d_model: int,
    d_ff: int,
    n_layers: int,
    n_decoder_layers: int | None = None,
    src_vocab: int = 0,
    tgt_vocab: int = 0,
    shared_vocab: bool = False,
    tie_output: bool = True,
    final_norms: bool = True,
) -> dict[str, int]:
    """Parameters of an encoder–decoder Transformer by component, from its sizes.

    Args:
        d_model, d_ff: widths of the model and of the feed-forward layer.
        n_layers, n_decoder_layers: encoder and decoder layers (decoder default: same).
        src_vocab, tgt_vocab: vocabulary sizes (0: no embeddings, as in nn.Transformer).
        shared_vocab: one embedding table for source and target (the paper's setup).
        tie_output: the output layer reuses the target embedding (the paper's setup).
        final_norms: a layer norm after each stack (nn.Transformer and xattn have them).
    """
    check_positive_int("d_model", d_model)
    check_positive_int("d_ff", d_ff)
    check_int("n_layers", n_layers)
    n_decoder_layers = n_layers if n_decoder_layers is None else n_decoder_layers
    check_int("n_decoder_layers", n_decoder_layers)
    for name, value in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
        check_int(name, value)
    for name, value in (
        ("shared_vocab", shared_vocab),
        ("tie_output", tie_output),
        ("final_norms", final_norms),
    ):
        check_bool(name, value)
    attn = attention_parameter_count(d_model)
    ff = d_model * d_ff + d_ff + d_ff * d_model + d_model
    norm = 2 * d_model
    counts = {
        "src_embed": src_vocab * d_model,
        "tgt_embed": 0 if shared_vocab else tgt_vocab * d_model,
        "encoder": n_layers * (attn + ff + 2 * norm) + (norm if final_norms else 0),
        "decoder": n_decoder_layers * (2 * attn + ff + 3 * norm)
        + (norm if final_norms else 0),
        "generator": 0 if tie_output else d_model * (tgt_vocab or src_vocab),
    }
    counts["total"] = sum(counts.values())
    return counts
