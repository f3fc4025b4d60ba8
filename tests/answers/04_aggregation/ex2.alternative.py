# The two masks merged by xattn.combine_masks, which adds the missing axes itself.
def causal_self_attention(x, lengths=None):
    L = x.shape[1]
    causal = xattn.causal_mask(L, device=x.device)  # (L, L)
    real = None
    if lengths is not None:
        real = xattn.padding_mask(lengths, max_len=L, device=x.device)  # (B, L)
    return xattn.attention(x, x, x, xattn.combine_masks(real, causal, 3))[0]
