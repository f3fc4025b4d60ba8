# Erases into one copy of x and never puts a row back: position l is scored with
# positions 0 to l all erased, so each drop adds up the ones before it.
def occlusion(f, x):
    base = f(x)
    erased = x.clone()
    drops = []
    for position in range(x.shape[1]):
        erased[:, position] = 0
        drops.append(base - f(erased))
    return torch.stack(drops, -1)
