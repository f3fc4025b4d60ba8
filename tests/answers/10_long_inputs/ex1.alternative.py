# Carries the running log-sum-exp itself (torch.logaddexp) and the maximum, and
# turns them into l at the end.
def online_max_sum(blocks):
    lse = m = None
    for scores in blocks:
        block_max = scores.amax(dim=-1)
        safe = block_max.masked_fill(torch.isinf(block_max), 0.0)
        block_lse = safe + torch.log(torch.exp(scores - safe[..., None]).sum(dim=-1))
        lse = block_lse if lse is None else torch.logaddexp(lse, block_lse)
        m = block_max if m is None else torch.maximum(m, block_max)
    empty = m == -math.inf
    return m, torch.where(empty, torch.zeros_like(lse), torch.exp(lse - m))
