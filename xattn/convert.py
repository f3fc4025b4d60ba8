"""Load PyTorch's own modules' weights into xattn modules: do the two compute the same?

``nn.MultiheadAttention`` keeps the query, key and value projections packed in
one ``in_proj_weight`` (3D, D); xattn keeps them as three separate layers,
because in cross-attention the query and the keys come from different tensors.
"""

from __future__ import annotations

import torch
from torch import nn

from xattn.blocks import DecoderBlock, EncoderBlock
from xattn.layers import MultiHeadCrossAttention
from xattn.model import Seq2Seq

__all__ = ["load_torch_multihead_attention", "load_torch_transformer"]


def _copy(dst: torch.Tensor, src: torch.Tensor, what: str) -> None:
    if dst.shape != src.shape:
        raise ValueError(
            f"{what}: shapes differ, xattn {tuple(dst.shape)} vs torch "
            f"{tuple(src.shape)}"
        )
    dst.copy_(src)


@torch.no_grad()
def load_torch_multihead_attention(
    module: MultiHeadCrossAttention, mha: nn.MultiheadAttention
) -> MultiHeadCrossAttention:
    """Copy an ``nn.MultiheadAttention``'s weights into ``module``; returns ``module``.

    A module built with ``kdim = vdim`` (keys and values of another width than
    the queries) maps to ``MultiHeadCrossAttention(d_memory=kdim)``; different
    ``kdim`` and ``vdim`` have no counterpart, since in xattn one memory tensor
    supplies both keys and values.
    """
    if not isinstance(module, MultiHeadCrossAttention):
        raise ValueError(
            "module must be an xattn.MultiHeadCrossAttention, got "
            f"{type(module).__name__}"
        )
    if not isinstance(mha, nn.MultiheadAttention):
        raise ValueError(f"expected nn.MultiheadAttention, got {type(mha).__name__}")
    if mha.kdim != mha.vdim:
        raise ValueError(
            f"nn.MultiheadAttention with kdim={mha.kdim} != vdim={mha.vdim} has no "
            "xattn counterpart: "
            "xattn reads keys and values from one memory tensor (B, Lk, d_memory)"
        )
    ours = (module.d_model, module.n_heads, module.d_memory)
    theirs = (mha.embed_dim, mha.num_heads, mha.kdim)
    if ours != theirs:
        raise ValueError(
            f"sizes differ (d_model, n_heads, d_memory): xattn {ours} vs torch "
            f"(embed_dim, num_heads, kdim) {theirs}"
        )
    if mha.bias_k is not None:
        raise ValueError(
            "nn.MultiheadAttention with add_bias_kv=True has no xattn counterpart"
        )
    has_bias = mha.in_proj_bias is not None
    if has_bias != (module.q_proj.bias is not None):
        raise ValueError(
            f"bias differs: torch bias={has_bias}, xattn "
            f"bias={module.q_proj.bias is not None}"
        )
    if mha._qkv_same_embed_dim:
        weights = mha.in_proj_weight.chunk(3)  # packed (3D, D)
    else:
        # (D, D), (D, kdim), (D, vdim)
        weights = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
    for proj, w in zip((module.q_proj, module.k_proj, module.v_proj), weights):
        _copy(proj.weight, w, "in_proj_weight")
    if has_bias:
        for proj, b in zip(
            (module.q_proj, module.k_proj, module.v_proj), mha.in_proj_bias.chunk(3)
        ):
            _copy(proj.bias, b, "in_proj_bias")
        _copy(module.out_proj.bias, mha.out_proj.bias, "out_proj.bias")
    _copy(module.out_proj.weight, mha.out_proj.weight, "out_proj.weight")
    return module


@torch.no_grad()
def _load_linear(dst: nn.Linear, src: nn.Linear, what: str) -> None:
    _copy(dst.weight, src.weight, f"{what}.weight")
    _copy(dst.bias, src.bias, f"{what}.bias")


@torch.no_grad()
def _load_norm(dst: nn.LayerNorm, src: nn.LayerNorm, what: str) -> None:
    _copy(dst.weight, src.weight, f"{what}.weight")
    _copy(dst.bias, src.bias, f"{what}.bias")


@torch.no_grad()
def load_torch_transformer(model: Seq2Seq, transformer: nn.Transformer) -> Seq2Seq:
    """Copy an ``nn.Transformer``'s encoder and decoder weights into ``model``.

    ``nn.Transformer`` has no embeddings or output layer; those of ``model`` are
    left as they are. The two must agree in width, heads, layers, feed-forward
    width and norm placement, and the transformer must use ReLU.
    """
    if not isinstance(model, Seq2Seq):
        raise ValueError(f"model must be an xattn.Seq2Seq, got {type(model).__name__}")
    if not isinstance(transformer, nn.Transformer):
        raise ValueError(f"expected nn.Transformer, got {type(transformer).__name__}")
    cfg = model.cfg
    enc_layers, dec_layers = transformer.encoder.layers, transformer.decoder.layers
    first = enc_layers[0]
    theirs = (
        transformer.d_model,
        transformer.nhead,
        len(enc_layers),
        len(dec_layers),
        first.linear1.out_features,
        first.norm_first,
    )
    ours = (
        cfg.d_model,
        cfg.n_heads,
        cfg.n_layers,
        cfg.decoder_layers,
        cfg.ff_width,
        cfg.norm_first,
    )
    if theirs != ours:
        names = "(d_model, n_heads, encoder layers, decoder layers, d_ff, norm_first)"
        raise ValueError(
            f"configurations differ {names}: xattn {ours} vs torch {theirs}"
        )
    if first.activation is not torch.nn.functional.relu and not isinstance(
        first.activation, nn.ReLU
    ):
        raise ValueError(
            "only nn.Transformer with activation='relu' matches xattn's feed-forward"
        )
    for ours_layer, t in zip(model.encoder.layers, enc_layers):
        _load_block(ours_layer, t)
    for ours_layer, t in zip(model.decoder.layers, dec_layers):
        _load_block(ours_layer, t)
    _load_norm(model.encoder.norm, transformer.encoder.norm, "encoder.norm")
    _load_norm(model.decoder.norm, transformer.decoder.norm, "decoder.norm")
    return model


def _load_block(block: EncoderBlock | DecoderBlock, layer: nn.Module) -> None:
    load_torch_multihead_attention(block.self_attn, layer.self_attn)
    _load_linear(block.ff.linear1, layer.linear1, "linear1")
    _load_linear(block.ff.linear2, layer.linear2, "linear2")
    if isinstance(block, DecoderBlock):
        load_torch_multihead_attention(block.cross_attn, layer.multihead_attn)
        norms = (block.sub_self.norm, block.sub_cross.norm, block.sub_ff.norm)
        theirs = (layer.norm1, layer.norm2, layer.norm3)
    else:
        norms = (block.sub_attn.norm, block.sub_ff.norm)
        theirs = (layer.norm1, layer.norm2)
    for i, (n, t) in enumerate(zip(norms, theirs)):
        _load_norm(n, t, f"norm{i + 1}")
