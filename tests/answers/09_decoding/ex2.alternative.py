# Uncached minus cached, each counted as multiply-adds times two.
def cross_cache_savings(n_layers, batch, len_k, d_model, steps):
    multiply_adds = 2 * batch * len_k * d_model * d_model  # keys and values, one layer
    uncached, cached = steps * n_layers * multiply_adds, n_layers * multiply_adds
    return 2 * (uncached - cached)
