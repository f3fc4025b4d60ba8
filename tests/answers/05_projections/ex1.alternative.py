# F.linear for the projections, an additive -inf mask, einsum for the rest, and the
# NaN of a row with no visible key replaced by 0 afterwards.
def cross_attention_by_hand(attn, x, memory, memory_mask=None):
    linear = torch.nn.functional.linear
    q = linear(x, attn.q_proj.weight, attn.q_proj.bias)
    k = linear(memory, attn.k_proj.weight, attn.k_proj.bias)
    v = linear(memory, attn.v_proj.weight, attn.v_proj.bias)
    scores = torch.einsum("bqd,bkd->bqk", q, k) / q.shape[-1] ** 0.5
    if memory_mask is not None:
        additive = torch.where(memory_mask, 0.0, float("-inf")).to(scores.dtype)
        scores = scores + additive[:, None, :]
    weights = torch.softmax(scores, dim=-1).nan_to_num(nan=0.0)
    return torch.einsum("bqk,bkd->bqd", weights, v), weights
