# Forgets to rescale the running sum when the maximum grows: each earlier block's
# terms stay measured against an old, smaller maximum.
def online_max_sum(blocks):
    m = total = None
    for scores in blocks:
        block_max = scores.amax(dim=-1)
        m = block_max if m is None else torch.maximum(m, block_max)
        shift = m.masked_fill(m == -math.inf, 0.0)
        block_sum = torch.exp(scores - shift[..., None]).sum(dim=-1)
        total = block_sum if total is None else total + block_sum
    return m, total
