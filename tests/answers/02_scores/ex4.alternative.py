# Computed instead of decided on paper: the same three indices.
def predictions():
    q = torch.tensor([1.0, 2.0])
    keys = torch.tensor([[2.0, 4.0], [3.0, 3.0], [-1.0, 6.0], [0.5, 1.1]])
    dots = keys @ q
    cosine = torch.nn.functional.cosine_similarity(keys, q[None], dim=-1)
    return (
        int(dots.argmax()),
        int((dots / 2**0.5).softmax(-1).argmax()),
        int(cosine.argmax()),
    )
