"""Chapter 16: bad calls to xattn.perceiver.

Every public function and class of the module, called wrongly, raises a ValueError
that names the argument and the rule it breaks: wrong shapes, dtypes and devices,
empty and zero sizes, NaN and infinite settings, out-of-range ids, mismatched
batches. Several of these once escaped or passed silently: ``fourier_features``
with ``max_freq=inf`` returned NaN, a 1 x 1 image blamed a ``max_freq`` nobody
passed, an image with no rows blamed ``height``, inputs of two dtypes were cast
without a word, a mask given as a list raised AttributeError, a block called with
latents of another width raised a RuntimeError from layer norm (and a float mask
blamed ``memory_mask``), float64 inputs to a float32 model raised "mixed dtype".
"""

import math

import pytest
import torch

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

torch.manual_seed(0)
cfg = PerceiverConfig(d_input=5, n_outputs=3)
net = Perceiver(cfg).double().eval()
net2 = Perceiver(PerceiverConfig(d_input=5, n_outputs=3, n_modalities=2)).eval()
block = LatentCrossBlock(cfg).eval()
x = torch.randn(2, 4, 5, dtype=torch.float64)  # (B, M, C) for net
x32 = x.float()  # for net2 and block
lat = torch.randn(2, 16, 32)  # (B, N, D) for block
ids = torch.zeros(2, 4, dtype=torch.long)
pos = torch.zeros(3, 2)
img = torch.rand(2, 3, 4, 4)
a, b = torch.randn(2, 3, 4), torch.randn(2, 5, 6)

CASES = [
    # (id, call, pattern the message must match)
    # fourier_features
    ("ff n_bands 0", lambda: fourier_features(pos, 0, 8), r"n_bands must be a pos"),
    ("ff n_bands float", lambda: fourier_features(pos, 2.0, 8), r"n_bands .* 2\.0"),
    ("ff max_freq 1", lambda: fourier_features(pos, 2, 1), r"max_freq .*>= 2.*got 1"),
    ("ff max_freq str", lambda: fourier_features(pos, 2, "8"), r"max_freq .*number"),
    ("ff max_freq inf", lambda: fourier_features(pos, 2, math.inf), r"max_freq.*inf"),
    ("ff max_freq nan", lambda: fourier_features(pos, 2, math.nan), r"max_freq.*nan"),
    ("ff max_freq bool", lambda: fourier_features(pos, 2, True), r"max_freq.*True"),
    ("ff int positions", lambda: fourier_features(pos.long(), 2, 8), r"positions must"),
    ("ff list positions", lambda: fourier_features([0.5], 2, 8), r"positions .*list"),
    (
        "ff scalar positions",
        lambda: fourier_features(torch.tensor(0.5), 2, 8),
        r"positions must be \(\.\.\., P\) with P >= 1 .*got positions \(\)",
    ),
    (
        "ff no coordinates",
        lambda: fourier_features(torch.zeros(3, 0), 2, 8),
        r"P >= 1 .*\(3, 0\)",
    ),
    (
        "ff positions out of range",
        lambda: fourier_features(torch.full((3, 2), 5.0), 2, 8),
        r"positions must be finite and in \[-1, 1\].*5 to 5",
    ),
    (
        "ff NaN position",
        lambda: fourier_features(torch.tensor([[0.0, math.nan]]), 2, 8),
        r"positions must be finite",
    ),
    # grid_positions
    ("grid height 0", lambda: grid_positions(0, 3), r"height must be a positive int"),
    ("grid width bool", lambda: grid_positions(3, True), r"width .*True"),
    ("grid width float", lambda: grid_positions(3, 2.5), r"width .*2\.5"),
    ("grid int dtype", lambda: grid_positions(3, 3, torch.long), r"dtype .*int64"),
    ("grid dtype str", lambda: grid_positions(3, 3, "float"), r"dtype must be"),
    # image_inputs
    (
        "images 3-D",
        lambda: image_inputs(torch.rand(3, 4, 4)),
        r"images must be \(B, C, H, W\).*got images \(3, 4, 4\)",
    ),
    ("images int", lambda: image_inputs(img.long()), r"images must be a floating"),
    (
        "images with no rows",
        lambda: image_inputs(torch.rand(2, 3, 0, 4)),
        r"H, W >= 1, got images \(2, 3, 0, 4\)",
    ),
    (
        "images 1 x 1, default max_freq",
        lambda: image_inputs(torch.rand(2, 3, 1, 1)),
        r"1 x 1 pixel: the default max_freq.*pass max_freq >= 2",
    ),
    ("images n_bands 0", lambda: image_inputs(img, 0), r"n_bands must be a positive"),
    ("images max_freq inf", lambda: image_inputs(img, 2, math.inf), r"max_freq.*inf"),
    ("images max_freq 1", lambda: image_inputs(img, 2, 1.5), r"max_freq.*1\.5"),
    # stack_modalities
    ("no modalities", lambda: stack_modalities([]), r"non-empty list.*empty list"),
    ("inputs a tensor", lambda: stack_modalities(a), r"non-empty list.*Tensor"),
    ("input 2-D", lambda: stack_modalities([a, a[0]]), r"inputs\[1\] must be \(B, M_i"),
    ("input int", lambda: stack_modalities([a.long()]), r"inputs\[0\] must be a float"),
    (
        "batch mismatch",
        lambda: stack_modalities([a, torch.zeros(3, 3, 4)]),
        r"one B: inputs\[0\] \(2, 3, 4\) vs inputs\[1\] \(3, 3, 4\)",
    ),
    (
        "dtype mismatch",
        lambda: stack_modalities([a, b.double()]),
        r"share a dtype.*inputs\[0\] torch.float32 .*inputs\[1\] torch.float64",
    ),
    ("mask count", lambda: stack_modalities([a], [None, None]), r"1 inputs vs 2 masks"),
    (
        "masks a tensor",
        lambda: stack_modalities([a], torch.ones(2, 3, dtype=torch.bool)),
        r"masks must be a list .*got Tensor",
    ),
    (
        "int mask",
        lambda: stack_modalities([a], [torch.ones(2, 3).long()]),
        r"masks\[0\] must be bool \(B, M_i\) = \(2, 3\)",
    ),
    (
        "mask a list",
        lambda: stack_modalities([a], [[True, True, True]]),
        r"masks\[0\] must be bool .*got list",
    ),
    (
        "mask shape",
        lambda: stack_modalities([a, b], [None, torch.ones(2, 4, dtype=torch.bool)]),
        r"masks\[1\] must be bool \(B, M_i\) = \(2, 5\).*\(2, 4\)",
    ),
    # PerceiverConfig
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
    ("d_ff 0", lambda: PerceiverConfig(4, 2, d_ff=0), r"d_ff must be a positive int"),
    ("n_self -1", lambda: PerceiverConfig(4, 2, n_self=-1), r"n_self must be an int"),
    ("n_blocks 0", lambda: PerceiverConfig(4, 2, n_blocks=0), r"n_blocks must be a"),
    ("n_modalities -1", lambda: PerceiverConfig(4, 2, n_modalities=-1), r"n_modal"),
    ("dropout 1", lambda: PerceiverConfig(4, 2, dropout=1.0), r"dropout .*\[0, 1\)"),
    (
        "share 1",
        lambda: PerceiverConfig(d_input=4, n_outputs=2, share_weights=1),
        r"share_weights must be True or False",
    ),
    # Perceiver
    ("cfg dict", lambda: Perceiver({"d_input": 4}), r"cfg must be a PerceiverConfig"),
    (
        "wrong width",
        lambda: net(torch.zeros(2, 4, 6, dtype=torch.float64)),
        r"C = d_input = 5, got inputs \(2, 4, 6\)",
    ),
    ("inputs 2-D", lambda: net(x[0]), r"inputs must be \(B, M, C\).*\(4, 5\)"),
    ("inputs int", lambda: net(x.long()), r"inputs must be a floating"),
    (
        "float32 inputs, float64 model",
        lambda: net(x32),
        r"inputs must have the model's dtype.*torch.float32 .*torch.float64",
    ),
    (
        "float mask",
        lambda: net(x, torch.ones(2, 4)),
        r"mask must be bool \(B, M\) = \(2, 4\)",
    ),
    (
        "mask shape",
        lambda: net(x, torch.ones(2, 5, dtype=torch.bool)),
        r"mask must be bool \(B, M\) = \(2, 4\).*\(2, 5\)",
    ),
    ("mask a list", lambda: net(x, [[True] * 4] * 2), r"mask must be bool.*got list"),
    ("missing modality", lambda: net2(x32), r"n_modalities=2, modality None"),
    (
        "unwanted modality",
        lambda: net(x, None, ids),
        r"n_modalities=0",
    ),
    (
        "modality id out of range",
        lambda: net2(x32, None, torch.full((2, 4), 2)),
        r"ids in \[0, 2\)",
    ),
    ("negative modality", lambda: net2(x32, None, ids - 1), r"ids in \[0, 2\)"),
    ("int32 modality", lambda: net2(x32, None, ids.int()), r"long .*torch.int32"),
    (
        "modality shape",
        lambda: net2(x32, None, ids[:, :3]),
        r"modality must be long \(B, M\) = \(2, 4\).*\(2, 3\)",
    ),
    (
        "encode need_weights 1",
        lambda: net.encode(x, need_weights=1),
        r"need_weights must be True or False, got 1",
    ),
    # LatentCrossBlock
    ("block cfg dict", lambda: LatentCrossBlock({}), r"cfg must be a PerceiverConfig"),
    (
        "block latents width",
        lambda: block(torch.zeros(2, 16, 8), x32),
        r"latents must be \(B, N, D\) with D = d_latent = 32, got latents \(2, 16, 8\)",
    ),
    (
        "block inputs width",
        lambda: block(lat, torch.zeros(2, 4, 6)),
        r"inputs must be \(B, M, C\) with C = d_input = 5, got inputs \(2, 4, 6\)",
    ),
    (
        "block batch",
        lambda: block(lat, torch.zeros(3, 4, 5)),
        r"latents and inputs must share the batch size: latents \(2, 16, 32\) vs "
        r"inputs \(3, 4, 5\)",
    ),
    (
        "block float mask",
        lambda: block(lat, x32, torch.ones(2, 4)),
        r"^mask must be bool \(B, M\) = \(2, 4\)",
    ),
    (
        "block float64 inputs",
        lambda: block(lat, x),
        r"inputs must have the model's dtype.*torch.float64 .*torch.float32",
    ),
    (
        "block float64 latents",
        lambda: block(lat.double(), x32),
        r"latents and inputs must share a dtype.*latents torch.float64",
    ),
    ("block need_weights 1", lambda: block(lat, x32, None, 1), r"need_weights .*1"),
    # perceiver_flops
    ("flops m 0", lambda: perceiver_flops(cfg, 0), r"m must be a positive int, got 0"),
    ("flops m float", lambda: perceiver_flops(cfg, 4.0), r"m must be a positive int"),
    ("flops batch 0", lambda: perceiver_flops(cfg, 4, 0), r"batch must be a positive"),
    (
        "flops cfg dict",
        lambda: perceiver_flops({}, 4),
        r"cfg must be a PerceiverConfig",
    ),
]


@pytest.mark.parametrize(
    "call,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_call_raises_a_value_error_naming_the_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_empty_inputs_are_allowed_as_all_masked():
    """M = 0 is no input at all: the latents read nothing, as with every key masked."""
    with torch.no_grad():
        empty = net2(torch.zeros(2, 0, 5), None, torch.zeros(2, 0, dtype=torch.long))
        masked = net2(x32, torch.zeros(2, 4, dtype=torch.bool), ids)
    torch.testing.assert_close(empty, masked)
