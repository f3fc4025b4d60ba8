# A plain loop over the steps.
def monotonic_fraction(weights, n_steps):
    best = [int(row.argmax()) for row in weights[:n_steps]]
    forward = sum(b >= a for a, b in zip(best, best[1:]))
    return forward / (n_steps - 1)
