# Read the shapes off real tensors instead of writing them down.
def cross_attention_shapes(B, Lq, Lk, D):
    q, k = torch.zeros(B, Lq, D), torch.zeros(B, Lk, D)
    scores = q @ k.transpose(1, 2)
    out = scores @ k
    return {
        name: tuple(t.shape)
        for name, t in dict(q=q, k=k, v=k, scores=scores, out=out).items()
    }
