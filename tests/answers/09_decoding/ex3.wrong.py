# Keeps the top_k logits, but samples from the unscaled logits: the temperature is lost.
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
