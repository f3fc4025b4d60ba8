"""Perceiver: a small latent array cross-attends to a large input (chapter 16).

Jaegle et al. (2021): N learned latent vectors read an input of M elements through
one cross-attention, then think among themselves with self-attention. The input is
read once per block at a cost linear in M; the self-attention costs N^2, whatever M
is. Elements carry no order of their own: position features (Fourier features of
the pixel coordinates) say where each one is, and a learned modality embedding says
what kind of input it is, so that one latent array reads images and sound together.

Index legend: b batch (B), m input element (M), n latent (N), D latent width,
C input channels (``d_input``), P position coordinates, K frequency bands.
Masks are bool, True = a real input element that may be attended to.

Two modules, imports pointing down: what the model reads (``_inputs``: position
features, images as pixel sets, modalities stacked) and the model (``_model``: its
config, its block, the Perceiver and its FLOP count).
"""

from xattn.perceiver._inputs import (
    fourier_features,
    grid_positions,
    image_inputs,
    stack_modalities,
)
from xattn.perceiver._model import (
    LatentCrossBlock,
    Perceiver,
    PerceiverConfig,
    perceiver_flops,
)

__all__ = [
    "fourier_features",
    "grid_positions",
    "image_inputs",
    "stack_modalities",
    "PerceiverConfig",
    "LatentCrossBlock",
    "Perceiver",
    "perceiver_flops",
]
