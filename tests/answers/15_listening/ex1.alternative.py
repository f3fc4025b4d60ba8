# The mel formula written out with math, one centre at a time.
def mel_centres(n_mels, f_min, f_max):
    lo = 2595 * math.log10(1 + f_min / 700)
    hi = 2595 * math.log10(1 + f_max / 700)
    step = (hi - lo) / (n_mels + 1)
    hz = [700 * (10 ** ((lo + step * (m + 1)) / 2595) - 1) for m in range(n_mels)]
    return torch.tensor(hz, dtype=torch.float64)
