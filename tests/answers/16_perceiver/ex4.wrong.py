# Reshapes (B, T, C, H, W) straight to (B, T H W, C) without moving the channels last:
# the shape is right, but each element mixes the channels of several pixels.
def video_inputs(videos, n_bands, max_freq):
    b, t, c, h, w = videos.shape
    pixels = videos.reshape(b, t * h * w, c)
    axes = [torch.linspace(-1.0, 1.0, n, dtype=videos.dtype) for n in (t, h, w)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    feats = fourier_features(grid.reshape(-1, 3), n_bands, max_freq)
    return torch.cat([pixels, feats.expand(b, -1, -1)], dim=-1)
