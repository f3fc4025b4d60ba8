# Gives the halting layer its own h instead of the remainder 1 - sum of the earlier
# h, so the weights no longer sum to one.
def act_probabilities(h, eps=0.01):
    reached = h.cumsum(0) >= 1 - eps
    reached[-1] = True
    first = reached.long().argmax(0)  # N(t) - 1
    layer = torch.arange(h.shape[0]).view(-1, *[1] * (h.dim() - 1))
    return torch.where(layer <= first, h, torch.zeros_like(h))
