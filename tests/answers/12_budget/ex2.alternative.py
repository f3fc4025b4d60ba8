# Layer by layer, with a running total and a flag for the columns still going.
def act_probabilities(h, eps=0.01):
    p = torch.zeros_like(h)
    total = torch.zeros_like(h[0])
    going = torch.ones_like(h[0], dtype=torch.bool)
    for n in range(h.shape[0]):
        last = n == h.shape[0] - 1
        stops = going & ((total + h[n] >= 1 - eps) | last)
        p[n] = torch.where(stops, 1 - total, torch.where(going, h[n], 0.0))
        total = total + torch.where(going, h[n], 0.0)
        going = going & ~stops
    return p
