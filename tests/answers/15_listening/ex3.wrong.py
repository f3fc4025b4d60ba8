# The shortcut: the package's monotonic_share on the argmax path, which the
# exercise rules out (the tests forbid it).
def monotonic_fraction(weights, n_steps):
    path = weights.argmax(-1)[None]  # (1, Lq)
    return xattn.monotonic_share(path, torch.tensor([n_steps]))
