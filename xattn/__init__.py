"""xattn: cross-attention, step by step. The helper package of the book.

Every function here is first built in the open in a chapter; the chapters that
follow import it from here. Masks are bool, True = may attend.
"""

from xattn.attention import aggregate, attention, attention_scores, masked_softmax
from xattn.masks import (
    causal_mask,
    from_additive_mask,
    from_hf_attention_mask,
    from_key_padding_mask,
    padding_mask,
    to_key_padding_mask,
)
from xattn.plotting import plot_attention, plot_attention_grid
from xattn.utils import autocast_dtype, get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "aggregate",
    "attention",
    "attention_scores",
    "autocast_dtype",
    "causal_mask",
    "from_additive_mask",
    "from_hf_attention_mask",
    "from_key_padding_mask",
    "get_device",
    "masked_softmax",
    "padding_mask",
    "plot_attention",
    "plot_attention_grid",
    "seed_everything",
    "to_key_padding_mask",
]
