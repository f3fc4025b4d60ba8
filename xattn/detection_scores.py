"""How good a trained detector is: precision and recall, and its duplicates.

:func:`precision_recall` matches predictions to the true objects as the COCO
evaluation does, at one IoU threshold: a prediction is right when it overlaps an
unclaimed true object of its class with IoU >= 0.5, the most confident first.
:func:`count_duplicates` says what the queries that the training's matching left
over predict at test time.
"""

from __future__ import annotations

import torch

from xattn.boxes import box_iou
from xattn.checks import check_number, checked
from xattn.detection import _check_targets

__all__ = ["precision_recall", "count_duplicates"]


def _check_precision_recall(
    logits,
    boxes,
    labels,
    true_boxes,
    present,
    threshold=None,
    iou_threshold=0.5,
) -> None:
    _check_targets(logits, boxes, labels, true_boxes, present, 1.0)
    if threshold is not None:
        check_number("threshold", threshold, 0.0, 1.0)
    check_number("iou_threshold", iou_threshold, 0.0, 1.0, low_open=True)


@checked(_check_precision_recall)
@torch.no_grad()
def precision_recall(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    true_boxes: torch.Tensor,
    present: torch.Tensor,
    threshold: float | None = None,
    iou_threshold: float = 0.5,
) -> tuple[float, float]:
    """Detection's precision and recall at one IoU threshold (0.5 by default).

    A query predicts an object when its likeliest class is not "no object"
    (``threshold=None``), or when its likeliest real class has a probability of at
    least ``threshold``. In each image, the predictions in order of that probability
    each take the unclaimed true object of their class that they overlap most, if
    the IoU is at least ``iou_threshold`` (a true positive); any other prediction,
    a duplicate of a claimed object included, is a false positive (the matching
    of the COCO evaluation). Precision is the share of predictions that are true
    positives (0 without predictions), recall the share of true objects found.
    Nothing here uses the training's matching.

    Shapes:
        as :func:`match_queries` -> (precision, recall), floats in [0, 1]
    """
    probs = logits.softmax(-1)  # (B, Q, C + 1)
    score, label = probs[..., :-1].max(-1)  # (B, Q): the likeliest real class
    if threshold is None:
        predicted = probs.argmax(-1) < probs.shape[-1] - 1  # (B, Q)
    else:
        predicted = score >= threshold
    hits, n_predicted = 0, int(predicted.sum())
    for b in range(len(logits)):
        queries = predicted[b].nonzero()[:, 0]
        queries = queries[score[b, queries].argsort(descending=True)]
        truth, classes = true_boxes[b][present[b]], labels[b][present[b]]
        iou = box_iou(boxes[b, queries], truth)  # (P, M_b)
        same = label[b, queries][:, None] == classes[None, :]  # (P, M_b)
        iou = torch.where(same, iou, torch.full_like(iou, -1.0)).tolist()
        claimed = set()
        for row in iou:
            free = [(v, j) for j, v in enumerate(row) if j not in claimed]
            best, j = max(free, default=(-1.0, -1))
            if best >= iou_threshold:
                claimed.add(j)
        hits += len(claimed)
    return hits / max(n_predicted, 1), hits / max(int(present.sum()), 1)


def _check_count_duplicates(
    logits, boxes, true_boxes, present, matched, iou_threshold=0.5
) -> None:
    if not isinstance(present, torch.Tensor) or present.dim() != 2:
        raise ValueError(
            "present must be a bool (B, M) tensor, True where an object is"
        )
    labels = torch.zeros(present.shape, dtype=torch.long, device=present.device)
    _check_targets(logits, boxes, labels, true_boxes, present, 1.0)
    n_present = present.sum(-1).tolist()
    if (
        not isinstance(matched, (list, tuple))
        or len(matched) != len(logits)
        or any(
            not isinstance(m, torch.Tensor) or m.dtype != torch.long or len(m) != k
            for m, k in zip(matched, n_present)
        )
    ):
        raise ValueError(
            "matched must be match_queries' list: for each of the B images a "
            "torch.long tensor with one query per present object"
        )
    check_number("iou_threshold", iou_threshold, 0.0, 1.0, low_open=True)


@checked(_check_count_duplicates)
@torch.no_grad()
def count_duplicates(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    true_boxes: torch.Tensor,
    present: torch.Tensor,
    matched: list[torch.Tensor],
    iou_threshold: float = 0.5,
) -> tuple[int, int, int]:
    """What the queries that the matching left over do: nothing, or copy an object.

    Returns:
        ``(spare, predicting, copies)``: the queries not matched to a true object
        (:func:`match_queries`), those of them whose likeliest class is not
        "no object", and those of these whose box overlaps a true object's with IoU
        above ``iou_threshold``: duplicates of an object another query found.

    Shapes:
        logits (B, Q, C + 1), boxes (B, Q, 4), true_boxes (B, M, 4), present (B, M),
        matched: B tensors (M_b,) -> three ints
    """
    says_object = logits.argmax(-1) < logits.shape[-1] - 1  # (B, Q)
    spare = predicting = copies = 0
    for b, queries in enumerate(matched):
        others = torch.ones(logits.shape[1], dtype=torch.bool, device=logits.device)
        others[queries] = False  # (Q,): the queries no object was given to
        objects = others & says_object[b]
        spare += int(others.sum())
        predicting += int(objects.sum())
        overlap = box_iou(boxes[b, objects], true_boxes[b][present[b]])  # (k, M_b)
        if overlap.numel():
            copies += int((overlap.max(-1).values > iou_threshold).sum())
    return spare, predicting, copies
