# Combines the masks, but gives the padding mask no query axis: (B, L) broadcasts as (1,
# B, L).
def causal_self_attention(x, lengths=None):
    B, L, _ = x.shape
    mask = xattn.causal_mask(L, device=x.device)
    if lengths is not None:
        mask = mask & xattn.padding_mask(lengths, max_len=L, device=x.device)
    out, _ = xattn.attention(x, x, x, mask.expand(B, L, L) if mask.dim() == 2 else mask)
    return out
