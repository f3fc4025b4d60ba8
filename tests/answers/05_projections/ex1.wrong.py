# Ignores the mask: right without padding, wrong with it (padded keys get weight).
def cross_attention_by_hand(attn, x, memory, memory_mask=None):
    def project(layer, t):
        out = t @ layer.weight.T
        return out if layer.bias is None else out + layer.bias

    q, k, v = (
        project(attn.q_proj, x),
        project(attn.k_proj, memory),
        project(attn.v_proj, memory),
    )
    weights = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
    return weights @ v, weights
