# Clips every tensor to max_norm on its own: per-tensor, not global, clipping.
def clip_by_global_norm(grads, max_norm):
    norms = [float(g.norm()) for g in grads]
    total = math.sqrt(sum(n * n for n in norms))
    return [g * min(1.0, max_norm / (n + 1e-6)) for g, n in zip(grads, norms)], total
