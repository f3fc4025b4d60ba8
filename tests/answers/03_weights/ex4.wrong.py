# Bisects on T in a fixed bracket [0.01, 100]: a target that needs T > 100 is never
# found.
def temperature_for_max_weight(scores, target):
    scores = scores.double()
    if not 1.0 / scores.shape[-1] < target < 1.0:
        raise ValueError(f"target must lie in (1/L, 1), got {target}")
    lo, hi = 0.01, 100.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if torch.softmax(scores / mid, dim=-1).max().item() > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
