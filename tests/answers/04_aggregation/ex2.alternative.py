# Builds the (B, L, L) mask from index comparisons, without the helpers.
def causal_self_attention(x, lengths=None):
    B, L, _ = x.shape
    i = torch.arange(L, device=x.device)
    mask = (i[None, :] <= i[:, None]).expand(B, L, L)
    if lengths is not None:
        real = i[None, :] < torch.as_tensor(lengths, device=x.device)[:, None]
        mask = mask & real[:, None, :]
    return xattn.attention(x, x, x, mask)[0]
