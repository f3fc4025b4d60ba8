# Two passes over the key blocks: the first keeps only the best top_k scores, to
# learn each query's k-th best score; the second is an online softmax over the keys
# whose score reaches it.
def blockwise_topk_attention(q, k, v, top_k, block_size):
    scale = q.shape[-1] ** -0.5
    starts = range(0, k.shape[-2], block_size)

    def scores_of(start):
        return q @ k[..., start : start + block_size, :].transpose(-1, -2) * scale

    best = q.new_empty(*q.shape[:-1], 0)
    for start in starts:
        s = torch.cat([best, scores_of(start)], dim=-1)
        best = s.topk(min(top_k, s.shape[-1]), dim=-1).values  # sorted, largest first
    threshold, top = best[..., -1:], best[..., :1]
    num, den = 0.0, 0.0
    for start in starts:
        s = scores_of(start)
        e = torch.where(s >= threshold, torch.exp(s - top), torch.zeros_like(s))
        num = num + e @ v[..., start : start + block_size, :]
        den = den + e.sum(dim=-1, keepdim=True)
    return num / den
