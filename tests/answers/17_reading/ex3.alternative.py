# Every path point at once: the points stacked along a new axis, one backward pass,
# and the trapezoid weights as a vector.
def trapezoid_ig(f, x, steps):
    alphas = torch.linspace(0, 1, steps + 1, dtype=x.dtype)
    points = (alphas[:, None, None] * x[None]).requires_grad_(True)  # (m + 1, B, D)
    values = f(points.reshape(-1, x.shape[-1])).sum()
    (grads,) = torch.autograd.grad(values, points)
    weights = torch.ones(steps + 1, dtype=x.dtype)
    weights[0] = weights[-1] = 0.5
    return x * (weights[:, None, None] * grads).sum(0) / steps
