# Counts only steps that move strictly forward: two characters that share a memory
# frame (80 ms each, characters about 100 ms) count as going back.
def monotonic_fraction(weights, n_steps):
    path = weights[:n_steps].argmax(-1)
    return (path[1:] > path[:-1]).float().mean().item()
