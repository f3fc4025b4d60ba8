# Normalises the memory too, with the cross-attention's norm: the memory is not
# normalised here.
def pre_norm_decoder_block(block, x, memory, memory_mask, tgt_mask):
    causal = xattn.causal_mask(x.shape[1], device=x.device)[None]
    h = block.sub_self.norm(x)
    x = x + block.self_attn(h, h, tgt_mask, causal)[0]
    h = block.sub_cross.norm(x)
    x = x + block.cross_attn(h, block.sub_cross.norm(memory), memory_mask)[0]
    return x + block.ff(block.sub_ff.norm(x))
