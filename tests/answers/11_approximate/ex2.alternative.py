# The weight of the last key kept is the threshold: keep every key whose weight is at
# least that large, then renormalize the kept weights by hand.
def top_p_weights(scores, p):
    weights = torch.softmax(scores, dim=-1)
    ordered = weights.sort(dim=-1, descending=True).values
    total = ordered.cumsum(dim=-1)
    n_keep = (total < p).sum(dim=-1, keepdim=True) + 1  # the key that reaches p too
    n_keep = n_keep.clamp(max=weights.shape[-1])
    threshold = ordered.gather(-1, n_keep - 1)
    kept = torch.where(weights >= threshold, weights, torch.zeros_like(weights))
    return kept / kept.sum(dim=-1, keepdim=True)
