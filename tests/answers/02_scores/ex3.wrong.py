# Forgets the tanh: a sum of projections is not an additive score.
def batched_additive_scores(q, k, w_q, w_k, w_score):
    hidden = (q @ w_q.T)[:, :, None, :] + (k @ w_k.T)[:, None, :, :]
    return hidden @ w_score
