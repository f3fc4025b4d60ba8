# Subtracts f of y2 instead of f of the rebuilt x2: x1 = y1 - f(x2) needs x2 first.
def invert_coupling(y1, y2, f, g):
    x1 = y1 - f(y2)
    x2 = y2 - g(y1)
    return x1, x2
