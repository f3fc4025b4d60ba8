# One helper for the three residual steps; the causal mask with an explicit batch axis.
def pre_norm_decoder_block(block, x, memory, memory_mask, tgt_mask):
    def residual(sublayer, fn, x):
        return x + fn(sublayer.norm(x))

    causal = xattn.causal_mask(x.shape[1], device=x.device)[None]
    x = residual(
        block.sub_self, lambda h: block.self_attn(h, h, tgt_mask, causal)[0], x
    )
    x = residual(
        block.sub_cross, lambda h: block.cross_attn(h, memory, memory_mask)[0], x
    )
    return residual(block.sub_ff, block.ff, x)
