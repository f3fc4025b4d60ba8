# Coordinates listed with cartesian_prod (frame, row, column: the same order as the
# elements), and the pixels gathered frame by frame with image.flatten(-2).
def video_inputs(videos, n_bands, max_freq):
    b, t, c, h, w = videos.shape
    frames = [videos[:, f].flatten(-2).transpose(1, 2) for f in range(t)]  # (B, HW, C)
    pixels = torch.cat(frames, dim=1)
    steps = [torch.linspace(-1.0, 1.0, n, dtype=torch.float64) for n in (t, h, w)]
    coords = torch.cartesian_prod(*steps).reshape(t * h * w, 3)
    feats = fourier_features(coords, n_bands, max_freq).to(videos.dtype)
    feats = feats.to(videos.device).unsqueeze(0).repeat(b, 1, 1)
    return torch.cat([pixels, feats], dim=-1)
