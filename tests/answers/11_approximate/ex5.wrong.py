# Keeps a running top-k of the scores, but records where each kept score sits in
# its own block, not which key it is: the values gathered at the end are the wrong
# keys' whenever a best key lies beyond the first block.
def blockwise_topk_attention(q, k, v, top_k, block_size):
    scale = q.shape[-1] ** -0.5
    best = q.new_empty(*q.shape[:-1], 0)
    where = torch.empty(*q.shape[:-1], 0, dtype=torch.long)
    for start in range(0, k.shape[-2], block_size):
        block = q @ k[..., start : start + block_size, :].transpose(-1, -2) * scale
        keys = torch.arange(block.shape[-1]).expand_as(block)
        scores = torch.cat([best, block], dim=-1)
        keys = torch.cat([where, keys], dim=-1)
        best, pick = scores.topk(min(top_k, scores.shape[-1]), dim=-1)
        where = keys.gather(-1, pick)
    weights = best.softmax(dim=-1)
    chosen = torch.take_along_dim(v[..., None, :, :], where[..., None], dim=-2)
    return (weights[..., None] * chosen).sum(dim=-2)
