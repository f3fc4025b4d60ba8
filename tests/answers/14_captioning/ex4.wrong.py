# Drops a box when any more confident box overlaps it, even one that was itself
# dropped: a chain of three overlapping boxes keeps only the first.
def nms(boxes, scores, iou_threshold=0.5):
    order = scores.argsort(descending=True).tolist()
    iou = box_iou(boxes, boxes)
    kept = [
        i
        for rank, i in enumerate(order)
        if all(iou[j, i] <= iou_threshold for j in order[:rank])
    ]
    return torch.tensor(kept, dtype=torch.long)
