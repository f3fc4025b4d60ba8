# einsum for the projections and the final weighting.
def batched_additive_scores(q, k, w_q, w_k, w_score):
    hq = torch.einsum("b q d, a d -> b q a", q, w_q)
    hk = torch.einsum("b k d, a d -> b k a", k, w_k)
    return torch.einsum(
        "b q k a, a -> b q k", torch.tanh(hq.unsqueeze(2) + hk.unsqueeze(1)), w_score
    )
