"""The Perceiver: latents reading a large input, and many modalities (chapter 16)."""

import dataclasses
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import xattn
from xattn.perceiver import (
    LatentCrossBlock,
    Perceiver,
    PerceiverConfig,
    fourier_features,
    grid_positions,
    image_inputs,
    perceiver_flops,
    stack_modalities,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def model(**kw):
    torch.manual_seed(0)
    cfg = PerceiverConfig(d_input=kw.pop("d_input", 5), n_outputs=3, **kw)
    return Perceiver(cfg).double().eval()


def test_fourier_features_match_the_formula():
    pos = torch.tensor([[0.5, -0.25]], dtype=torch.float64)
    out = fourier_features(pos, 3, 8.0)
    assert out.shape == (1, 2 * 7)
    freqs = torch.tensor([1.0, 2.5, 4.0], dtype=torch.float64)
    for j, x in enumerate((0.5, -0.25)):
        want = torch.cat(
            [
                torch.tensor([x]),
                torch.sin(math.pi * freqs * x),
                torch.cos(math.pi * freqs * x),
            ]
        ).double()
        torch.testing.assert_close(out[0, 7 * j : 7 * (j + 1)], want)


def test_fourier_features_tell_grid_points_apart():
    pos = grid_positions(16, 16)
    feats = fourier_features(pos, 4, 16)
    assert feats.shape == (256, 2 * 9)
    dist = torch.cdist(feats, feats) + torch.eye(256) * 1e3
    assert dist.min() > 0.05  # no two pixels share features


def test_grid_positions_are_row_major_in_minus_one_one():
    pos = grid_positions(3, 4)
    assert pos.shape == (12, 2)
    assert torch.equal(pos[0], torch.tensor([-1.0, -1.0]))
    assert torch.equal(pos[-1], torch.tensor([1.0, 1.0]))
    assert torch.allclose(pos[5], torch.tensor([0.0, -1.0 / 3]))  # row 1, column 1


def test_image_inputs_put_channels_first_then_positions():
    images = torch.rand(2, 3, 4, 5, generator=gen(1))
    x = image_inputs(images, n_bands=2)
    assert x.shape == (2, 20, 3 + 2 * 5)
    assert torch.equal(x[:, 7, :3], images[:, :, 1, 2])  # pixel (1, 2) is element 7
    assert torch.equal(x[0, :, 3:], x[1, :, 3:])  # positions, the same for every image
    assert torch.equal(image_inputs(images, None), images.flatten(2).transpose(1, 2))


def test_stack_modalities_pads_labels_and_masks():
    a = torch.randn(2, 3, 4, generator=gen(2))
    b = torch.randn(2, 2, 6, generator=gen(3))
    mb = torch.tensor([[True, False], [True, True]])
    x, mask, ids = stack_modalities([a, b], [None, mb])
    assert x.shape == (2, 5, 6) and mask.shape == ids.shape == (2, 5)
    assert torch.equal(x[:, :3, :4], a) and (x[:, :3, 4:] == 0).all()
    assert torch.equal(x[:, 3:], b)
    assert torch.equal(ids[0], torch.tensor([0, 0, 0, 1, 1]))
    assert torch.equal(mask[0], torch.tensor([True, True, True, True, False]))


def test_output_shape_does_not_depend_on_the_input_size():
    net = model()
    for m in (1, 7, 300):
        x = torch.randn(2, m, 5, generator=gen(m), dtype=torch.float64)
        latents, _ = net.encode(x)
        assert latents.shape == (2, 16, 32)
        assert net(x).shape == (2, 3)


def test_without_positions_the_output_ignores_the_input_order():
    net = model(n_blocks=2)
    x = torch.randn(2, 40, 5, generator=gen(4), dtype=torch.float64)
    perm = torch.randperm(40, generator=gen(5))
    torch.testing.assert_close(net(x[:, perm]), net(x))
    images = torch.rand(1, 3, 6, 6, generator=gen(6), dtype=torch.float64)
    shuffled = images.flatten(2)[..., torch.randperm(36, generator=gen(7))]
    shuffled = shuffled.view(1, 3, 6, 6)
    with_pos = model(d_input=3 + 2 * 9)
    assert not torch.allclose(
        with_pos(image_inputs(shuffled, 4)), with_pos(image_inputs(images, 4))
    )


def test_masking_a_modality_is_removing_it():
    net = model(n_modalities=2, d_input=6)
    a = torch.randn(3, 10, 4, generator=gen(8), dtype=torch.float64)
    b = torch.randn(3, 5, 6, generator=gen(9), dtype=torch.float64)
    x, mask, ids = stack_modalities([a, b], [None, torch.zeros(3, 5, dtype=bool)])
    alone, _, alone_ids = stack_modalities([nn_pad(a, 6)])
    got = net(x, mask, ids)
    torch.testing.assert_close(got, net(alone, None, alone_ids), atol=1e-12, rtol=0)
    assert not torch.allclose(got, net(x, None, ids))


def nn_pad(x, width):
    return torch.nn.functional.pad(x, (0, width - x.shape[-1]))


def test_cross_attention_weights_are_rows_over_the_input():
    net = model(n_blocks=3, share_weights=False)
    x = torch.randn(2, 9, 5, generator=gen(10), dtype=torch.float64)
    mask = xattn.padding_mask([9, 4], max_len=9)
    _, maps = net.encode(x, mask, need_weights=True)
    assert len(maps) == 3
    for w in maps:
        assert w.shape == (2, 2, 16, 9)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 16, dtype=w.dtype))
        assert (w[1, ..., 4:] == 0).all()
    assert net.encode(x)[1] == []


def test_weight_sharing_keeps_the_parameter_count_flat():
    counts = [sum(p.numel() for p in model(n_blocks=n).parameters()) for n in (1, 2, 4)]
    assert counts[0] == counts[1] == counts[2]
    unshared = [
        sum(p.numel() for p in model(n_blocks=n, share_weights=False).parameters())
        for n in (1, 2, 4)
    ]
    per_block = unshared[1] - unshared[0]
    assert unshared[0] == counts[0] and unshared[2] == unshared[0] + 3 * per_block
    block = sum(p.numel() for p in LatentCrossBlock(model().cfg).parameters())
    assert per_block == block


@pytest.mark.parametrize("n_self,n_blocks", [(0, 1), (1, 1), (2, 3)])
def test_flop_formula_matches_the_flop_counter(n_self, n_blocks):
    cfg = PerceiverConfig(d_input=7, n_outputs=2, n_self=n_self, n_blocks=n_blocks)
    net = Perceiver(cfg)
    for m in (50, 100):
        x = torch.randn(2, m, 7)
        with FlopCounterMode(display=False) as counter:
            net.encode(x)
        assert counter.get_total_flops() == perceiver_flops(cfg, m, batch=2)["total"]


def test_doubling_the_input_doubles_only_the_input_terms():
    cfg = PerceiverConfig(d_input=7, n_outputs=2, n_self=2)
    small, large = perceiver_flops(cfg, 1000), perceiver_flops(cfg, 2000)
    assert large["latent"] == small["latent"]
    ff = 4 * 16 * 32 * 64
    assert large["cross"] - ff == 2 * (small["cross"] - ff) - 2 * 2 * 16 * 32 * 32


def test_padding_mask_leaves_real_rows_unchanged():
    net = model()
    x = torch.randn(1, 6, 5, generator=gen(11), dtype=torch.float64)
    padded = torch.cat([x, torch.randn(1, 3, 5, dtype=torch.float64)], 1)
    mask = xattn.padding_mask([6], max_len=9)
    torch.testing.assert_close(net(padded, mask), net(x), atol=1e-12, rtol=0)


def test_config_replace_and_the_mean_latent_head():
    cfg = PerceiverConfig(d_input=4, n_outputs=2)
    deeper = dataclasses.replace(cfg, n_blocks=3)
    assert deeper.n_blocks == 3 and cfg.n_blocks == 1


# ---- bad input: a clear ValueError naming what is wrong ----

_net = model()
_net2 = model(n_modalities=2)
_x = torch.randn(2, 4, 5, dtype=torch.float64)

CASES = [
    ("n_bands 0", lambda: fourier_features(torch.zeros(3, 2), 0, 8), r"n_bands"),
    ("max_freq 1", lambda: fourier_features(torch.zeros(3, 2), 2, 1), r"max_freq"),
    ("max_freq str", lambda: fourier_features(torch.zeros(3, 2), 2, "8"), r"number"),
    ("int positions", lambda: fourier_features(torch.zeros(3, 2).long(), 2, 8), "pos"),
    ("grid 0", lambda: grid_positions(0, 3), r"height must be a positive int"),
    (
        "images 3-D",
        lambda: image_inputs(torch.rand(3, 4, 4)),
        r"images must be \(B, C, H, W\), got images \(3, 4, 4\)",
    ),
    ("no modalities", lambda: stack_modalities([]), r"non-empty list"),
    (
        "batch mismatch",
        lambda: stack_modalities([torch.zeros(2, 3, 4), torch.zeros(3, 3, 4)]),
        r"one B: inputs\[0\] \(2, 3, 4\) vs inputs\[1\] \(3, 3, 4\)",
    ),
    (
        "mask count",
        lambda: stack_modalities([torch.zeros(2, 3, 4)], [None, None]),
        r"1 inputs vs 2 masks",
    ),
    (
        "int mask",
        lambda: stack_modalities([torch.zeros(2, 3, 4)], [torch.ones(2, 3).long()]),
        r"masks\[0\] must be bool \(B, M_i\) = \(2, 3\)",
    ),
    (
        "heads",
        lambda: PerceiverConfig(d_input=4, n_outputs=2, d_latent=30, n_heads=4),
        r"d_latent=30 must be divisible by n_heads=4",
    ),
    (
        "n_latents 0",
        lambda: PerceiverConfig(d_input=4, n_outputs=2, n_latents=0),
        r"n_latents must be a positive int",
    ),
    (
        "share 1",
        lambda: PerceiverConfig(d_input=4, n_outputs=2, share_weights=1),
        r"share_weights must be True or False",
    ),
    ("cfg dict", lambda: Perceiver({"d_input": 4}), r"cfg must be a PerceiverConfig"),
    (
        "wrong width",
        lambda: _net(torch.zeros(2, 4, 6, dtype=torch.float64)),
        r"C = d_input = 5, got inputs \(2, 4, 6\)",
    ),
    (
        "float mask",
        lambda: _net(_x, torch.ones(2, 4)),
        r"mask must be bool \(B, M\) = \(2, 4\)",
    ),
    (
        "mask shape",
        lambda: _net(_x, torch.ones(2, 5, dtype=torch.bool)),
        r"mask must be bool \(B, M\) = \(2, 4\).*\(2, 5\)",
    ),
    ("missing modality", lambda: _net2(_x), r"n_modalities=2, modality None"),
    (
        "unwanted modality",
        lambda: _net(_x, None, torch.zeros(2, 4).long()),
        r"n_modalities=0",
    ),
    (
        "modality id out of range",
        lambda: _net2(_x, None, torch.full((2, 4), 2)),
        r"ids in \[0, 2\)",
    ),
    (
        "flops m 0",
        lambda: perceiver_flops(_net.cfg, 0),
        r"m must be a positive int, got 0",
    ),
]


@pytest.mark.parametrize(
    "call,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
