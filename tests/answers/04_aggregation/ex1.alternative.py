# A loop over the keys, and torch.softmax (which subtracts the maximum itself).
def attend_one(query, k, v):
    scores = torch.stack([key @ query for key in k]) / query.shape[-1] ** 0.5
    weights = torch.softmax(scores, dim=0)
    return sum(w * value for w, value in zip(weights, v))
