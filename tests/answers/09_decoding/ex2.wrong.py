# Forgets that the cache still computes the keys and values once: counts every step as
# saved.
def cross_cache_savings(n_layers, batch, len_k, d_model, steps):
    return n_layers * steps * 2 * 2 * batch * len_k * d_model * d_model
