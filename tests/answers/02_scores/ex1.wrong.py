# Forgets the 1 / sqrt(Dh).
def shared_key_scores(q, k):
    return torch.einsum("b h q d, b k d -> b h q k", q, k)
