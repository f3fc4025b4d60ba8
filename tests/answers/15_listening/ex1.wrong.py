# Spaces the centres equally in Hz, not in mel: the low filters come out too wide
# and the high ones too narrow, and the centres are not the filter bank's.
def mel_centres(n_mels, f_min, f_max):
    points = torch.linspace(f_min, f_max, n_mels + 2, dtype=torch.float64)
    return points[1:-1]
