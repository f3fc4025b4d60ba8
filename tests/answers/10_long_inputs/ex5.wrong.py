# Keeps a running max and sum but forgets to rescale the sum when the max grows:
# every earlier block's terms stay measured against an old, smaller maximum.
def chunked_cross_entropy(hidden, weight, targets, block_size):
    n = hidden.shape[0]
    m = torch.full((n,), -math.inf, dtype=hidden.dtype)
    total = torch.zeros(n, dtype=hidden.dtype)
    picked = torch.zeros(n, dtype=hidden.dtype)
    for start in range(0, weight.shape[0], block_size):
        logits = hidden @ weight[start : start + block_size].T
        m = torch.maximum(m, logits.amax(dim=-1))
        total = total + torch.exp(logits - m[:, None]).sum(-1)
        here = (targets >= start) & (targets < start + logits.shape[1])
        index = (targets - start).clamp(0, logits.shape[1] - 1)[:, None]
        picked = torch.where(here, logits.gather(1, index)[:, 0], picked)
    return (m + torch.log(total) - picked).mean()
