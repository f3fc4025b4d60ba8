# No max-subtraction: exp overflows for scores in the thousands.
def attend_one(query, k, v):
    scores = (k @ query) / query.shape[-1] ** 0.5
    weights = scores.exp() / scores.exp().sum()
    return weights @ v
