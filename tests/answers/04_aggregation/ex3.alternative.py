# Takes the argmax of the weights themselves (ties broken the same way, by the first
# index).
def most_attended(q, k, lengths):
    mask = xattn.padding_mask(lengths, max_len=k.shape[-2], device=q.device)[:, None, :]
    _, weights = xattn.attention(q, k, k, mask)
    best = weights.argmax(dim=-1)
    empty = torch.tensor([n == 0 for n in lengths], device=q.device)[:, None]
    return torch.where(empty, torch.full_like(best, -1), best)
