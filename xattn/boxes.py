"""Boxes: areas, intersection over union, and generalized IoU.

Boxes are ``(x0, y0, x1, y1)`` in pixels, x to the right and y down, as float
tensors (N, 4); a box with ``x1 < x0`` or ``y1 < y0`` is empty.
"""

from __future__ import annotations

import torch

from xattn.checks import check_boxes, checked

__all__ = ["box_area", "box_iou", "generalized_box_iou"]


def _check_box_area(boxes) -> None:
    check_boxes("boxes", boxes)


@checked(_check_box_area)
def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of boxes, 0 for an empty or inverted box. Shapes: (N, 4) -> (N,)."""
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)  # (N, 2)
    return wh[:, 0] * wh[:, 1]


def _check_box_pair(a, b) -> None:
    check_boxes("a", a)
    check_boxes("b", b)
    if a.dtype != b.dtype or a.device != b.device:
        raise ValueError(
            f"a and b must share a dtype and a device: a {a.dtype} on {a.device} vs "
            f"b {b.dtype} on {b.device}"
        )


@checked(_check_box_pair)
def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Shapes:
        a (N, 4), b (M, 4) -> iou (N, M), in [0, 1]
    """
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    wh = (bottom_right - top_left).clamp(min=0)  # no overlap: 0, not negative
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union.clamp(min=torch.finfo(a.dtype).tiny)


@checked(_check_box_pair)
def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """GIoU (Rezatofighi et al. 2019): IoU minus the share of the smallest enclosing
    box that neither box covers; 1 for equal boxes, tending to -1 as they move apart.

    Unlike IoU, it still has a gradient when two boxes do not overlap.

    Shapes:
        a (N, 4), b (M, 4) -> giou (N, M), in [-1, 1]
    """
    iou = box_iou(a, b)  # (N, M)
    top_left = torch.minimum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.maximum(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    hull = (wh[..., 0] * wh[..., 1]).clamp(min=torch.finfo(a.dtype).tiny)  # (N, M)
    top = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom - top).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return iou - (hull - union) / hull
