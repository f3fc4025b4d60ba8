# Two loops over the pairs, one box at a time.
def iou_matrix(a, b):
    out = torch.zeros(len(a), len(b), dtype=a.dtype)
    for i, (ax0, ay0, ax1, ay1) in enumerate(a.tolist()):
        for j, (bx0, by0, bx1, by1) in enumerate(b.tolist()):
            w = max(0.0, min(ax1, bx1) - max(ax0, bx0))
            h = max(0.0, min(ay1, by1) - max(ay0, by0))
            union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - w * h
            out[i, j] = w * h / union
    return out
