# Bisection on log T with a bracket that doubles outwards; plain Python floats.
def temperature_for_max_weight(scores, target):
    import math

    s = scores.double()
    if not 1.0 / s.numel() < target < 1.0:
        raise ValueError(f"target {target} is not between 1/L and 1")

    def top(log_t):
        return torch.softmax(s / math.exp(log_t), -1).max().item()

    lo, hi, width = 0.0, 0.0, 1.0
    while top(lo) <= target:
        lo -= width
        width *= 2
    width = 1.0
    while top(hi) >= target:
        hi += width
        width *= 2
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if top(mid) > target else (lo, mid)
    return math.exp(0.5 * (lo + hi))
