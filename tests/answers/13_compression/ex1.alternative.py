# Row by row, the zero point added before rounding (an integer shift changes only
# which way an exact .5 tie goes, within the error bound).
def quantize_asymmetric(w):
    qs, scales, zeros = [], [], []
    for row in w:
        low, high = min(row.min().item(), 0.0), max(row.max().item(), 0.0)
        scale = (high - low) / 255
        zero = round(-low / scale)
        qs.append(torch.clamp(torch.round(row / scale + zero), 0, 255))
        scales.append(scale)
        zeros.append(zero)
    scale = torch.tensor(scales, dtype=w.dtype)
    return torch.stack(qs).to(torch.uint8), scale, torch.tensor(zeros)


def dequantize_asymmetric(q, scale, zero):
    return scale[:, None] * (q.long() - zero[:, None].long()).to(scale.dtype)
