# Coordinate by coordinate, band by band, with the frequencies written out as
# 1 + k (f_max / 2 - 1) / (K - 1).
def position_features(positions, n_bands, max_freq):
    step = (max_freq / 2 - 1) / (n_bands - 1) if n_bands > 1 else 0.0
    parts = []
    for p in range(positions.shape[-1]):
        x = positions[..., p : p + 1]
        sines = [torch.sin(math.pi * (1 + k * step) * x) for k in range(n_bands)]
        cosines = [torch.cos(math.pi * (1 + k * step) * x) for k in range(n_bands)]
        parts += [x, *sines, *cosines]
    return torch.cat(parts, dim=-1)
