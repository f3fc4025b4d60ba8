# Forgets to clamp the overlap's width and height at 0: for boxes apart in both x and
# y, the two negative gaps multiply to a positive "intersection".
def iou_matrix(a, b):
    x0 = torch.maximum(a[:, None, 0], b[None, :, 0])
    y0 = torch.maximum(a[:, None, 1], b[None, :, 1])
    x1 = torch.minimum(a[:, None, 2], b[None, :, 2])
    y1 = torch.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x1 - x0) * (y1 - y0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)
