# The identity written as s - lse(s), with lse computed by hand around the maximum.
def stable_log_softmax(scores):
    m = scores.amax(dim=-1, keepdim=True)
    lse = m + torch.log(torch.sum(torch.exp(scores - m), dim=-1, keepdim=True))
    return scores - lse
