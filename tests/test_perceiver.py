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


# Bad calls: tests/test_errors_perceiver.py.


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_function_works_in_float32_and_float64(dtype):
    pos = grid_positions(5, 7, dtype)
    assert pos.dtype == dtype
    feats = fourier_features(pos, 3, 7)
    assert feats.dtype == dtype
    want = fourier_features(grid_positions(5, 7, torch.float64), 3, 7)
    torch.testing.assert_close(feats.double(), want, atol=1e-6, rtol=0)
    images = torch.rand(2, 3, 5, 7, generator=gen(20), dtype=torch.float64)
    x = image_inputs(images.to(dtype), 3)
    assert x.dtype == dtype and x.shape == (2, 35, 3 + 2 * 7)
    torch.testing.assert_close(x.double(), image_inputs(images, 3), atol=1e-6, rtol=0)
    audio = torch.randn(2, 4, 9, generator=gen(21), dtype=dtype)
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    stacked, full, ids = stack_modalities([x, audio], [None, mask])
    assert stacked.dtype == dtype and stacked.shape == (2, 39, 17)
    torch.manual_seed(0)
    cfg = PerceiverConfig(17, 3, n_blocks=2, n_modalities=2)
    reference = Perceiver(cfg).double().eval()
    net = Perceiver(cfg).eval()
    net.load_state_dict(reference.state_dict())
    net = net.to(dtype)
    with torch.no_grad():
        out = net(stacked, full, ids)
        latents, maps = net.encode(stacked, full, ids, need_weights=True)
        block_out, weights = net.blocks[0](latents, stacked, full, True)
        want = reference(stacked.double(), full, ids)
    assert out.dtype == latents.dtype == maps[0].dtype == block_out.dtype == dtype
    assert weights.dtype == dtype and torch.isfinite(block_out).all()
    torch.testing.assert_close(out.double(), want, atol=1e-4, rtol=1e-4)
    with FlopCounterMode(display=False) as counter:
        net.encode(stacked, full, ids)
    assert counter.get_total_flops() == perceiver_flops(cfg, 39, batch=2)["total"]
