# Forgets the pi: sin(f x) instead of sin(pi f x), so the highest frequency no longer
# sits at the grid's Nyquist rate and the features are not the chapter's.
def position_features(positions, n_bands, max_freq):
    freqs = torch.linspace(1.0, max_freq / 2, n_bands, dtype=positions.dtype)
    angles = positions[..., None] * freqs
    out = torch.cat([positions[..., None], angles.sin(), angles.cos()], dim=-1)
    return out.flatten(-2)
