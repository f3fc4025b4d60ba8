# Keeps the right keys but leaves them their softmax weights over all keys: the
# dropped weight is lost instead of moved onto the kept keys, so rows sum to S < 1.
def top_p_weights(scores, p):
    weights = scores.softmax(-1)
    ordered, order = weights.sort(-1, descending=True)
    keep_sorted = ordered.cumsum(-1) - ordered < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return weights * keep
