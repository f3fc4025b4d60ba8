# Shifts by the row's minimum itself instead of an integer zero point: q can differ
# by one from round(w / scale) + z, 0.0 comes back as round(-min / scale) * scale +
# min, not exactly 0, and the zero point is a float.
def quantize_asymmetric(w):
    low = w.amin(dim=1).clamp(max=0)
    high = w.amax(dim=1).clamp(min=0)
    scale = (high - low) / 255
    q = torch.round((w - low[:, None]) / scale[:, None]).clamp(0, 255)
    return q.to(torch.uint8), scale, -low / scale


def dequantize_asymmetric(q, scale, zero):
    return q.to(scale.dtype) * scale[:, None] - zero[:, None] * scale[:, None]
