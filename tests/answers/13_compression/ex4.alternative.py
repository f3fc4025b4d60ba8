# Group by group along the columns, then each column's scale repeated to dequantize.
def quantize_per_group(w, group):
    qs, scales = [], []
    for start in range(0, w.shape[1], group):
        part = w[:, start : start + group]  # (N, group)
        scale = part.abs().amax(dim=1) / 127
        step = torch.where(scale > 0, scale, 1.0)[:, None]
        qs.append(torch.round(part / step).clamp(-127, 127).to(torch.int8))
        scales.append(scale)
    return torch.cat(qs, dim=1), torch.stack(scales, dim=1)


def dequantize_per_group(q, scale):
    group = q.shape[1] // scale.shape[1]
    return q.to(scale.dtype) * scale.repeat_interleave(group, dim=1)
