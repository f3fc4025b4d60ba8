"""xattn: cross-attention, step by step. The helper package of the book.

Every function here is first built in the open in a chapter; the chapters that
follow import it from here. Masks are bool, True = may attend.
"""

from xattn.adaptive import (
    AdaptiveDecoder,
    PonderSeq2Seq,
    geometric_prior,
    halting_layers,
    halting_probabilities,
    ponder_greedy_decode,
    ponder_loss,
)
from xattn.approximate import (
    draw_features,
    kernel_attend,
    kernel_attention,
    local_attend,
    local_attention,
    local_mask,
    positive_features,
    topk_attend,
    topk_attention,
)
from xattn.attention import (
    aggregate,
    attention,
    attention_scores,
    mask_bias,
    masked_softmax,
)
from xattn.blocks import (
    DecoderBlock,
    EncoderBlock,
    FeedForward,
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    sinusoidal_positions,
)
from xattn.convert import load_torch_multihead_attention, load_torch_transformer
from xattn.counting import (
    attention_flops,
    attention_parameter_count,
    count_parameters,
    transformer_parameter_count,
)
from xattn.data import CharVocab, DateTask, field_alignment, field_alignment_chance
from xattn.decode import beam_search, greedy_decode
from xattn.layers import (
    CrossAttention,
    MultiHeadCrossAttention,
    combine_masks,
    merge_heads,
    split_heads,
    use_attention,
)
from xattn.masks import (
    causal_mask,
    from_additive_mask,
    from_hf_attention_mask,
    from_key_padding_mask,
    padding_mask,
    to_key_padding_mask,
)
from xattn.memory import peak_tensor_bytes, saved_tensor_bytes
from xattn.model import Decoder, Encoder, Seq2Seq, Seq2SeqConfig
from xattn.online import (
    OnlineAttention,
    block_scores,
    online_attention,
    online_backward,
    online_forward,
)
from xattn.plotting import plot_attention, plot_attention_grid, plot_scores
from xattn.prune import (
    PrunedAttention,
    attention_layers,
    head_importance,
    head_mask_attend,
    head_masks,
    prune_heads,
)
from xattn.quantize import (
    Int8Linear,
    dequantize_per_channel,
    model_bytes,
    quantize_model,
    quantize_per_channel,
)
from xattn.reversible import (
    ReversibleDecoderBlock,
    ReversibleEncoderBlock,
    ReversibleFunction,
    ReversibleStack,
)
from xattn.utils import (
    autocast_dtype,
    get_device,
    interleaved_medians,
    median_seconds,
    seed_everything,
)

__version__ = "0.1.0"

__all__ = [
    "CharVocab",
    "CrossAttention",
    "DateTask",
    "Decoder",
    "DecoderBlock",
    "Encoder",
    "EncoderBlock",
    "FeedForward",
    "LearnedPositionalEncoding",
    "MultiHeadCrossAttention",
    "OnlineAttention",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SinusoidalPositionalEncoding",
    "aggregate",
    "attention_flops",
    "attention_parameter_count",
    "beam_search",
    "block_scores",
    "count_parameters",
    "field_alignment",
    "field_alignment_chance",
    "load_torch_multihead_attention",
    "load_torch_transformer",
    "merge_heads",
    "sinusoidal_positions",
    "split_heads",
    "transformer_parameter_count",
    "attention",
    "attention_scores",
    "autocast_dtype",
    "causal_mask",
    "combine_masks",
    "from_additive_mask",
    "from_hf_attention_mask",
    "from_key_padding_mask",
    "get_device",
    "greedy_decode",
    "mask_bias",
    "masked_softmax",
    "median_seconds",
    "interleaved_medians",
    "online_attention",
    "online_backward",
    "online_forward",
    "padding_mask",
    "peak_tensor_bytes",
    "plot_attention",
    "plot_attention_grid",
    "plot_scores",
    "saved_tensor_bytes",
    "seed_everything",
    "to_key_padding_mask",
    "use_attention",
    "draw_features",
    "kernel_attend",
    "kernel_attention",
    "local_attend",
    "local_attention",
    "local_mask",
    "positive_features",
    "topk_attend",
    "topk_attention",
    "Int8Linear",
    "PrunedAttention",
    "attention_layers",
    "dequantize_per_channel",
    "head_importance",
    "head_mask_attend",
    "head_masks",
    "model_bytes",
    "prune_heads",
    "quantize_model",
    "quantize_per_channel",
    "AdaptiveDecoder",
    "PonderSeq2Seq",
    "geometric_prior",
    "halting_layers",
    "halting_probabilities",
    "ponder_greedy_decode",
    "ponder_loss",
    "ReversibleDecoderBlock",
    "ReversibleEncoderBlock",
    "ReversibleFunction",
    "ReversibleStack",
]
