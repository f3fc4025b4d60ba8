# Keeps the best box left, removes it and the boxes it overlaps, until none is left.
def nms(boxes, scores, iou_threshold=0.5):
    left = list(range(len(boxes)))
    kept = []
    while left:
        best = max(left, key=lambda i: scores[i].item())
        kept.append(best)
        overlap = box_iou(boxes[best][None], boxes[left])[0]
        left = [
            i
            for i, o in zip(left, overlap.tolist())
            if i != best and o <= iou_threshold
        ]
    return torch.tensor(kept, dtype=torch.long)
