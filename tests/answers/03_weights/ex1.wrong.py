# The logarithm of the softmax, as it reads: -inf (and then NaN downstream) for [0,
# -200].
def stable_log_softmax(scores):
    e = (scores - scores.max(dim=-1, keepdim=True).values).exp()
    return (e / e.sum(dim=-1, keepdim=True)).log()
