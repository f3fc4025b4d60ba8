# Scatter the top_k logits into a row of -inf, then sample.
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    scaled = logits / temperature
    if top_k is not None:
        top = scaled.topk(top_k, dim=-1)
        scaled = torch.full_like(scaled, float("-inf")).scatter(
            -1, top.indices, top.values
        )
    return torch.multinomial(
        torch.softmax(scaled, dim=-1), 1, generator=generator
    ).squeeze(-1)
