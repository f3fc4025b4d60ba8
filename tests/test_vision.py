"""Patches, 2-D positions, the patch encoder and the captioner (chapter 14).

Bad calls are in tests/test_errors_vision.py.
"""

import pytest
import torch

import xattn
from xattn.patches import PatchEncoder, patchify, positions_2d
from xattn.vision import Captioner, doubly_stochastic_penalty


def cfg(**kw):
    base = dict(
        src_vocab_size=1,
        tgt_vocab_size=12,
        d_model=32,
        n_heads=4,
        n_layers=1,
        n_decoder_layers=1,
        dropout=0.0,
        max_len=16,
    )
    return xattn.Seq2SeqConfig(**{**base, **kw})


def test_patchify_reads_row_by_row_and_round_trips():
    x = torch.randn(2, 3, 12, 8)
    p = patchify(x, 4)
    assert p.shape == (2, 6, 48)
    assert torch.equal(p[1, 3], x[1, :, 4:8, 4:8].flatten())  # row 1, column 1
    back = p.reshape(2, 3, 2, 3, 4, 4).permute(0, 3, 1, 4, 2, 5).reshape(2, 3, 12, 8)
    assert torch.equal(back, x)


def test_positions_2d_split_columns_and_rows():
    t = positions_2d(3, 4, 16).reshape(3, 4, 16)
    assert torch.equal(t[0, 2, :8], t[2, 2, :8]) and torch.equal(
        t[1, 0, 8:], t[1, 3, 8:]
    )
    assert torch.equal(t[0, 1, :8], xattn.sinusoidal_positions(4, 8)[1])
    assert not torch.equal(t[0, 1], t[1, 0])


def test_patch_encoder_and_captioner_shapes_and_weights():
    enc = PatchEncoder(16, 4, 32, 4, 1)
    assert enc(torch.rand(2, 3, 16, 16)).shape == (2, 16, 32)
    assert PatchEncoder(16, 4, 32, 4, 0)(torch.rand(1, 3, 16, 16)).shape == (1, 16, 32)
    model = Captioner(cfg(), image_size=16, patch=4).eval()
    tgt = torch.tensor([[1, 4, 5, 0], [1, 6, 7, 8]])
    assert model(torch.rand(2, 3, 16, 16), tgt).shape == (2, 4, 12)
    model.decoder.keep_cross_weights()
    model(torch.rand(2, 3, 16, 16), tgt)
    w = model.decoder.cross_weights()
    assert w.shape == (1, 2, 4, 4, 16)
    assert torch.allclose(w.sum(-1), torch.ones(1, 2, 4, 4))
    out = model.generate(torch.rand(2, 3, 16, 16), 1, 2, max_len=5)
    assert out.shape[0] == 2 and out.shape[1] <= 5 and out.dtype == torch.long


def test_captioner_learns_to_tell_two_colours():
    torch.manual_seed(0)
    model = Captioner(cfg(), image_size=8, patch=4)
    images = torch.zeros(2, 3, 8, 8)
    images[0, 0], images[1, 2] = 1.0, 1.0  # red, blue
    tgt_in, tgt_out = torch.tensor([[1, 4], [1, 5]]), torch.tensor([[4, 2], [5, 2]])
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(
            model(images, tgt_in).flatten(0, 1), tgt_out.flatten()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert model.generate(images, 1, 2, 3)[:, 0].tolist() == [4, 5]


def test_doubly_stochastic_penalty():
    w = torch.full((1, 2, 4), 0.25)  # each patch gets 0.5 over two words
    assert torch.isclose(doubly_stochastic_penalty(w), torch.tensor(4 * 0.25))
    assert torch.isclose(doubly_stochastic_penalty(w, tau=0.5), torch.tensor(0.0))
    mask = torch.tensor([[True, False]])  # one word: 0.25 each
    assert torch.isclose(doubly_stochastic_penalty(w, mask), torch.tensor(4 * 0.75**2))
    peaked = torch.tensor([[[1.0, 0, 0, 0], [1.0, 0, 0, 0]]])
    assert doubly_stochastic_penalty(peaked) > doubly_stochastic_penalty(w)


def test_patch_encoder_from_config_takes_the_decoder_sizes():
    cfg = xattn.Seq2SeqConfig(5, 7, d_model=32, n_heads=4, n_layers=2, d_ff=48)
    enc = xattn.PatchEncoder.from_config(cfg, image_size=16, patch=4)
    assert len(enc.layers) == 2 and enc.n_patches == 16 and enc.d_model == 32
    assert len(xattn.PatchEncoder.from_config(cfg, 16, 4, n_layers=0).layers) == 0
    with pytest.raises(ValueError, match="Seq2SeqConfig"):
        xattn.PatchEncoder.from_config({"d_model": 32})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_function_works_in_float32_and_float64(dtype):
    images = torch.rand(2, 3, 16, 16, dtype=dtype)
    assert patchify(images, 4).dtype == dtype
    torch.manual_seed(0)
    model = Captioner(cfg(), image_size=16, patch=4).to(dtype).eval()
    tgt = torch.tensor([[1, 4, 5], [1, 6, 0]])
    logits = model(images, tgt)
    assert logits.dtype == dtype and logits.shape == (2, 3, 12)
    assert model.encoder(images).dtype == dtype
    assert model.generate(images, 1, 2, max_len=4).dtype == torch.long
    model.decoder.keep_cross_weights()
    model(images, tgt)
    w = model.decoder.cross_weights().mean((0, 2))  # (B, Lq, N)
    penalty = doubly_stochastic_penalty(w, tgt != 0)
    assert penalty.dtype == dtype and penalty.item() > 0


def test_float64_and_float32_models_agree():
    torch.manual_seed(0)
    model = Captioner(cfg(), image_size=16, patch=4).eval()
    images, tgt = torch.rand(2, 3, 16, 16), torch.tensor([[1, 4, 5], [1, 6, 7]])
    single = model(images, tgt)
    double = model.double()(images.double(), tgt)
    assert torch.allclose(single.double(), double, atol=1e-4)


def test_generate_without_eos_writes_max_len_words():
    model = Captioner(cfg(), image_size=16, patch=4).eval()
    ids = model.generate(torch.rand(3, 3, 16, 16), 1, None, max_len=5)
    assert ids.shape == (3, 5) and not (ids == 0).any()  # never <pad>


def test_penalty_gradient_spreads_the_attention():
    """Descending the penalty moves weight from a crowded patch to empty ones."""
    scores = torch.tensor([[[3.0, 0, 0, 0], [3.0, 0, 0, 0]]], requires_grad=True)
    doubly_stochastic_penalty(scores.softmax(-1)).backward()
    assert (scores.grad[0, :, 0] > 0).all() and (scores.grad[0, :, 1:] < 0).all()
