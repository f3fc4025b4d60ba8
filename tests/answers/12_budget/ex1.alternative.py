# The same two steps, written as one expression each with torch.sub.
def invert_coupling(y1, y2, f, g):
    x2 = torch.sub(y2, g(y1))
    return torch.sub(y1, f(x2)), x2
