"""The encoder–decoder: equal to nn.Transformer, a proper seq2seq model, counted."""

import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import xattn
from xattn import Seq2Seq, Seq2SeqConfig

SMALL = Seq2SeqConfig(
    src_vocab_size=23,
    tgt_vocab_size=19,
    d_model=32,
    n_heads=4,
    n_layers=2,
    n_decoder_layers=3,
    d_ff=48,
    dropout=0.0,
)


def pair(norm_first: bool, seed: int = 0):
    torch.manual_seed(seed)
    cfg = dataclasses.replace(SMALL, norm_first=norm_first)
    t = nn.Transformer(
        cfg.d_model,
        cfg.n_heads,
        cfg.n_layers,
        cfg.decoder_layers,
        cfg.ff_width,
        0.0,
        batch_first=True,
        norm_first=norm_first,
    ).eval()
    model = xattn.load_torch_transformer(Seq2Seq(cfg).eval(), t)
    return model, t


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_equal_to_torch_transformer(norm_first):
    model, t = pair(norm_first)
    src_x, tgt_x = torch.randn(3, 9, 32), torch.randn(3, 6, 32)
    src_keep = xattn.padding_mask([9, 5, 2], 9)
    tgt_keep = xattn.padding_mask([6, 6, 4], 6)
    with torch.no_grad():
        memory = model.encoder(src_x, src_keep)
        out = model.decoder(tgt_x, memory, src_keep, tgt_keep)
        ref_memory = t.encoder(src_x, src_key_padding_mask=~src_keep)
        ref = t.decoder(
            tgt_x,
            ref_memory,
            tgt_mask=~xattn.causal_mask(6),
            tgt_key_padding_mask=~tgt_keep,
            memory_key_padding_mask=~src_keep,
        )
    # PyTorch's encoder fast path writes zeros at padded positions; compare the real
    # ones.
    torch.testing.assert_close(
        memory[src_keep], ref_memory[src_keep], atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(out[tgt_keep], ref[tgt_keep], atol=1e-5, rtol=1e-5)


def test_decoder_reads_its_memory():
    """A decoder that ignored the encoder (a real historical bug) would fail this."""
    torch.manual_seed(1)
    model = Seq2Seq(SMALL).eval()
    x, memory = torch.randn(2, 4, 32), torch.randn(2, 7, 32)
    out = model.decoder(x, memory)
    assert not torch.allclose(out, model.decoder(x, memory + torch.randn_like(memory)))


def test_padded_source_positions_change_nothing():
    torch.manual_seed(2)
    model = Seq2Seq(SMALL).eval()
    src_x, tgt_x = torch.randn(2, 8, 32), torch.randn(2, 5, 32)
    keep = xattn.padding_mask([8, 3], 8)
    out = model.decoder(tgt_x, model.encoder(src_x, keep), keep)
    src_x2 = src_x.clone()
    src_x2[~keep] = 100 * torch.randn_like(src_x2[~keep])
    memory2 = model.encoder(src_x2, keep)
    assert torch.equal(memory2[keep], model.encoder(src_x, keep)[keep])
    assert torch.equal(model.decoder(tgt_x, memory2, keep), out)


def test_padded_source_tokens_change_nothing_end_to_end():
    torch.manual_seed(3)
    model = Seq2Seq(SMALL).eval()
    src = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    tgt_in = torch.tensor([[1, 4, 5], [1, 6, 7]])
    logits = model(src, tgt_in)
    # more padding
    longer = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(longer, tgt_in), logits)


def test_causal_decoder_cannot_see_the_future():
    torch.manual_seed(4)
    model = Seq2Seq(SMALL).eval()
    src = torch.randint(1, 23, (2, 6))
    tgt = torch.randint(1, 19, (2, 7))
    logits = model(src, tgt)
    for t in range(7):
        changed = tgt.clone()
        changed[:, t + 1 :] = torch.randint(1, 19, changed[:, t + 1 :].shape)
        assert torch.equal(model(src, changed)[:, : t + 1], logits[:, : t + 1])


def test_cached_decoding_equals_full_decoding():
    torch.manual_seed(5)
    model = Seq2Seq(dataclasses.replace(SMALL, dropout=0.0)).eval()
    src = torch.tensor([[5, 6, 7, 8, 9], [9, 10, 11, 0, 0]])
    tgt = torch.randint(1, 19, (2, 6))
    with torch.no_grad():
        memory, src_mask = model.encode(src)
        full = model.decode(tgt, memory, src_mask)
        caches = model.init_cache(memory)
        steps = [
            model.decode_step(tgt[:, i : i + 1], i, src_mask, caches) for i in range(6)
        ]
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fast", [False, True])
def test_gradients_reach_every_parameter(fast):
    torch.manual_seed(6)
    model = Seq2Seq(
        dataclasses.replace(SMALL, fast=fast, dropout=0.1, positional="learned")
    )
    src, tgt = torch.randint(1, 23, (3, 6)), torch.randint(1, 19, (3, 5))
    model(src, tgt).logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0 or name.startswith("positions"), (
            f"{name} got no gradient"
        )


def test_cross_attention_weights_are_kept_on_request():
    torch.manual_seed(7)
    model = Seq2Seq(SMALL).eval()
    src = torch.tensor([[5, 6, 7, 0]])
    model.decoder.keep_cross_weights()
    model(src, torch.tensor([[1, 2, 3]]))
    w = model.decoder.cross_weights()
    assert w.shape == (3, 1, 4, 3, 4)  # (N, B, H, Lq, Lk)
    assert (w[..., 3] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 1, 4, 3))


def test_config_round_trips_and_variants_are_checked():
    cfg = SMALL
    assert Seq2SeqConfig(**cfg.to_dict()) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.d_model = 64
    assert dataclasses.replace(cfg, n_heads=8).d_head == 4
    with pytest.raises(ValueError, match="divisible"):
        dataclasses.replace(cfg, n_heads=5)


# ---- parameter and FLOP counts ----


@pytest.mark.parametrize(
    "cfg",
    [
        SMALL,
        dataclasses.replace(SMALL, share_embeddings=True, src_vocab_size=19),
        dataclasses.replace(SMALL, tie_output=False),
    ],
    ids=["separate", "shared", "untied"],
)
def test_formula_matches_the_module(cfg):
    counted = xattn.count_parameters(Seq2Seq(cfg))
    formula = xattn.transformer_parameter_count(
        cfg.d_model,
        cfg.ff_width,
        cfg.n_layers,
        cfg.decoder_layers,
        cfg.src_vocab_size,
        cfg.tgt_vocab_size,
        shared_vocab=cfg.share_embeddings,
        tie_output=cfg.tie_output,
    )
    assert counted == formula


def test_formula_matches_torch_transformer():
    t = nn.Transformer(64, 4, 3, 2, 100, batch_first=True)
    assert (
        sum(p.numel() for p in t.parameters())
        == xattn.transformer_parameter_count(64, 100, 3, 2)["total"]
    )


@pytest.mark.parametrize(
    "size, d_model, n_heads, d_ff, paper",
    [
        ("base", 512, 8, 2048, 65e6),
        ("big", 1024, 16, 4096, 213e6),
    ],
)
def test_close_to_the_paper(size, d_model, n_heads, d_ff, paper):
    """Vaswani et al. 2017, Table 3: 65M and 213M parameters, a shared vocabulary."""
    cfg = Seq2SeqConfig(
        37000,
        37000,
        d_model=d_model,
        n_heads=n_heads,
        n_layers=6,
        d_ff=d_ff,
        share_embeddings=True,
    )
    with torch.device("meta"):
        total = xattn.count_parameters(Seq2Seq(cfg))["total"]
    assert (
        total
        == xattn.transformer_parameter_count(
            d_model, d_ff, 6, src_vocab=37000, shared_vocab=True
        )["total"]
    )
    assert abs(total - paper) / paper < 0.04, (
        f"{size}: {total / 1e6:.1f}M vs the paper's {paper / 1e6:.0f}M"
    )


def test_attention_flops_formula_matches_the_flop_counter():
    layer = xattn.MultiHeadCrossAttention(64, 8)
    x, memory = torch.randn(2, 5, 64), torch.randn(2, 11, 64)
    with FlopCounterMode(display=False) as counter:
        layer(x, memory)
    assert counter.get_total_flops() == xattn.attention_flops(2, 5, 11, 64)["total"]
    assert xattn.attention_parameter_count(64) == sum(
        p.numel() for p in layer.parameters()
    )


# ---- bad input ----

BAD_CONFIGS = [
    (dict(d_model=30, n_heads=4), "divisible"),
    (dict(n_heads=0), "n_heads must be a positive int"),
    (dict(n_layers=-1), "n_layers must be a positive int"),
    (dict(n_decoder_layers=0), "n_decoder_layers must be a positive int"),
    (dict(d_ff=True), "d_ff must be a positive int"),
    (dict(dropout=1.0), r"dropout must be a finite number in \[0, 1\)"),
    (dict(pad_id=30), "pad_id=30 must be a valid id"),
    (dict(positional="rotary"), "positional must be"),
    (
        dict(share_embeddings=True, tgt_vocab_size=7),
        "share_embeddings needs one vocabulary",
    ),
    (dict(d_model=9, n_heads=3), "must be even"),
    (dict(max_len=0), "max_len must be a positive int"),
]


@pytest.mark.parametrize(
    "change, message", BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS]
)
def test_bad_config_is_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SMALL, **change)


layer = xattn.MultiHeadCrossAttention(16, 4)
model = Seq2Seq(SMALL)
BAD_CALLS = [
    (
        "d_model not divisible",
        lambda: xattn.MultiHeadCrossAttention(10, 4),
        r"d_model=10 must be divisible by n_heads=4",
    ),
    (
        "memory of the wrong width",
        lambda: layer(torch.randn(2, 3, 16), torch.randn(2, 5, 12)),
        r"memory must be \(B, L, 16\) for d_memory=16, got memory \(2, 5, 12\)",
    ),
    (
        "x of the wrong rank",
        lambda: layer(torch.randn(3, 16), torch.randn(2, 5, 16)),
        r"x must be \(B, L, 16\)",
    ),
    (
        "batch mismatch",
        lambda: layer(torch.randn(2, 3, 16), torch.randn(3, 5, 16)),
        r"share the batch size",
    ),
    (
        "mask of the wrong shape",
        lambda: layer(
            torch.randn(2, 3, 16),
            torch.randn(2, 5, 16),
            torch.ones(2, 4, dtype=torch.bool),
        ),
        r"memory_mask must be \(B, Lk\) = \(2, 5\)",
    ),
    (
        "mask of the wrong dtype",
        lambda: layer(torch.randn(2, 3, 16), torch.randn(2, 5, 16), torch.ones(2, 5)),
        r"memory_mask must be a bool tensor .* of dtype torch.float32; "
        r".*from_additive_mask",
    ),
    (
        "attn_mask of the wrong shape",
        lambda: layer(
            torch.randn(2, 3, 16),
            torch.randn(2, 5, 16),
            None,
            torch.ones(5, 3, dtype=torch.bool),
        ),
        r"attn_mask must be \(1, Lq, Lk\) = \(1, 3, 5\) or \(B, Lq, Lk\) = "
        r"\(2, 3, 5\), got attn_mask \(5, 3\)",
    ),
    (
        "both memory and kv",
        lambda: layer(
            torch.randn(1, 2, 16),
            torch.randn(1, 3, 16),
            kv=layer.project_kv(torch.randn(1, 3, 16)),
        ),
        "exactly one of memory",
    ),
    (
        "kv of the wrong shape",
        lambda: layer(
            torch.randn(1, 2, 16), kv=(torch.randn(1, 3, 16), torch.randn(1, 3, 16))
        ),
        r"kv k must be \(B, H, Lk, Dh\)",
    ),
    (
        "integer memory",
        lambda: layer(torch.randn(1, 2, 16), torch.ones(1, 3, 16, dtype=torch.long)),
        "memory must be a floating-point",
    ),
    (
        "float token ids",
        lambda: model(torch.rand(2, 3), torch.ones(2, 2, dtype=torch.long)),
        r"src must be a \(B, L\) tensor of torch.long",
    ),
    (
        "ids out of range",
        lambda: model(torch.tensor([[1, 99]]), torch.tensor([[1]])),
        r"src holds ids outside \[0, 23\)",
    ),
    (
        "sequence too long",
        lambda: model(
            torch.ones(1, 300, dtype=torch.long), torch.ones(1, 2, dtype=torch.long)
        ),
        "max_len is 256",
    ),
    (
        "torch MHA of another size",
        lambda: xattn.load_torch_multihead_attention(
            layer, nn.MultiheadAttention(16, 2)
        ),
        "sizes differ",
    ),
    (
        "torch transformer with gelu",
        lambda: xattn.load_torch_transformer(
            Seq2Seq(SMALL),
            nn.Transformer(
                32, 4, 2, 3, 48, activation="gelu", batch_first=True, norm_first=True
            ),
        ),
        "activation='relu'",
    ),
    (
        "torch transformer of another shape",
        lambda: xattn.load_torch_transformer(
            Seq2Seq(SMALL), nn.Transformer(32, 4, 2, 2, 48, batch_first=True)
        ),
        "configurations differ",
    ),
    (
        "split into heads that do not fit",
        lambda: xattn.split_heads(torch.randn(1, 2, 10), 3),
        "not divisible by n_heads=3",
    ),
    ("not a config", lambda: Seq2Seq({"d_model": 8}), "cfg must be a Seq2SeqConfig"),
]


@pytest.mark.parametrize(
    "call, message", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_to_layers_and_model(call, message):
    with pytest.raises(ValueError, match=message):
        call()
