"""Detection with object queries: a set of learned queries cross-attends to patches.

DETR (Carion et al. 2020) without the convolutional backbone: Q learned query vectors
go through the chapter-7 decoder, cross-attending to the patch features of
:class:`xattn.vision.PatchEncoder`; each query then predicts one object's class, or
"no object", and its box. Training matches the Q predictions to the true objects one
to one with the Hungarian algorithm (:func:`hungarian`), so that each object is
predicted by exactly one query and the others learn to say "no object".

Boxes are ``(x0, y0, x1, y1)`` in pixels throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xattn.checks import check_boxes, check_floating, check_number, fmt_shape
from xattn.model import Decoder, Seq2SeqConfig
from xattn.vision import PatchEncoder

__all__ = [
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "hungarian",
    "Detector",
    "match_queries",
    "detection_loss",
]


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of boxes, 0 for an empty or inverted box. Shapes: (N, 4) -> (N,)."""
    check_boxes("boxes", boxes)
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)  # (N, 2)
    return wh[:, 0] * wh[:, 1]


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Shapes:
        a (N, 4), b (M, 4) -> iou (N, M), in [0, 1]
    """
    check_boxes("a", a)
    check_boxes("b", b)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    wh = (bottom_right - top_left).clamp(min=0)  # no overlap: 0, not negative
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union.clamp(min=torch.finfo(a.dtype).tiny)


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """GIoU (Rezatofighi et al. 2019): IoU minus the share of the smallest enclosing
    box that neither box covers; 1 for equal boxes, tending to -1 as they move apart.

    Unlike IoU, it still has a gradient when two boxes do not overlap.

    Shapes:
        a (N, 4), b (M, 4) -> giou (N, M), in [-1, 1]
    """
    iou = box_iou(a, b)  # (N, M); checks a and b
    top_left = torch.minimum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.maximum(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    hull = (wh[..., 0] * wh[..., 1]).clamp(min=torch.finfo(a.dtype).tiny)  # (N, M)
    top = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom - top).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return iou - (hull - union) / hull


def hungarian(cost: torch.Tensor) -> torch.Tensor:
    """The assignment of rows to distinct columns with the least total cost.

    Kuhn's Hungarian method in its later shortest-augmenting-path form with
    potentials, O(n^2 m) for n rows and m >= n columns: each row in turn is added
    along the cheapest augmenting path, found with a Dijkstra-like search over
    reduced costs.

    Shapes:
        cost (n, m), n <= m -> columns (n,): row i goes to column ``columns[i]``
    """
    check_floating("cost", cost)
    if cost.dim() != 2 or cost.shape[0] > cost.shape[1]:
        raise ValueError(
            f"cost must be (n, m) with n <= m (every row gets its own column), got "
            f"cost {fmt_shape(cost)}"
        )
    if not torch.isfinite(cost).all():
        raise ValueError("cost must be finite everywhere")
    n, m = cost.shape
    c = cost.detach().double().cpu().tolist()
    inf = float("inf")
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)  # potentials of rows and columns
    owner = [0] * (m + 1)  # owner[j]: the row (1-based) holding column j; 0 = free
    way = [0] * (m + 1)  # the previous column on the augmenting path
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        best = [inf] * (m + 1)  # cheapest reduced cost to reach each column
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = owner[j0], inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    reduced = c[i0 - 1][j - 1] - u[i0] - v[j]
                    if reduced < best[j]:
                        best[j], way[j] = reduced, j0
                    if best[j] < delta:
                        delta, j1 = best[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    best[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # flip the path: every column on it passes to the row before
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    columns = [0] * n
    for j in range(1, m + 1):
        if owner[j]:
            columns[owner[j] - 1] = j - 1
    return torch.tensor(columns, dtype=torch.long, device=cost.device)


class Detector(nn.Module):
    """Learned object queries, the chapter-7 decoder, a class and a box per query.

    Args:
        cfg: the decoder's sizes (``d_model``, ``n_heads``, ``n_decoder_layers``,
            ...); ``tgt_vocab_size`` is the number of object classes C (a C + 1st,
            "no object", is added), ``src_vocab_size`` is unused.
        n_queries: Q, the most objects it can find in one image.
        image_size: side of the square images, in pixels.
        patch: side of a patch, in pixels.
        encoder_layers: self-attention blocks over the patches; default
            ``cfg.n_layers``.

    The decoder's self-attention is causal, as in chapter 7: query i sees the
    queries before it, which is enough for them to share out the objects.

    Shapes:
        images (B, 3, H, W) -> logits (B, Q, C + 1), boxes (B, Q, 4) in pixels
    """

    def __init__(
        self,
        cfg: Seq2SeqConfig,
        n_queries: int = 4,
        image_size: int = 48,
        patch: int = 8,
        encoder_layers: int | None = None,
    ):
        super().__init__()
        if not isinstance(cfg, Seq2SeqConfig):
            raise ValueError(f"cfg must be a Seq2SeqConfig, got {type(cfg).__name__}")
        if not isinstance(n_queries, int) or n_queries < 1:
            raise ValueError(f"n_queries must be a positive int, got {n_queries!r}")
        self.cfg, self.n_queries, self.image_size = cfg, n_queries, image_size
        self.n_classes = cfg.tgt_vocab_size
        self.encoder = PatchEncoder.from_config(cfg, image_size, patch, encoder_layers)
        self.queries = nn.Parameter(torch.randn(n_queries, cfg.d_model))
        self.decoder = Decoder(cfg)
        self.class_head = nn.Linear(cfg.d_model, self.n_classes + 1)
        self.box_head = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model), nn.ReLU(), nn.Linear(cfg.d_model, 4)
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory = self.encoder(images)  # (B, N, D)
        x = self.queries[None].expand(memory.shape[0], -1, -1)  # (B, Q, D)
        h = self.decoder(x, memory)  # (B, Q, D)
        cx, cy, w, h_ = self.box_head(h).sigmoid().unbind(-1)  # each (B, Q), in (0, 1)
        boxes = torch.stack([cx - w / 2, cy - h_ / 2, cx + w / 2, cy + h_ / 2], -1)
        return self.class_head(h), boxes * self.image_size  # (B, Q, C+1), (B, Q, 4)


def _check_targets(logits, boxes, labels, true_boxes, present):
    b, q = logits.shape[:2]
    m = labels.shape[1] if labels.dim() == 2 else -1
    if (
        logits.dim() != 3
        or tuple(boxes.shape) != (b, q, 4)
        or labels.dim() != 2
        or tuple(true_boxes.shape) != (b, m, 4)
        or tuple(present.shape) != (b, m)
        or present.dtype != torch.bool
        or m > q
    ):
        raise ValueError(
            "need logits (B, Q, C + 1), boxes (B, Q, 4), labels (B, M), true_boxes "
            "(B, M, 4), present bool (B, M) with M <= Q; got logits "
            f"{fmt_shape(logits)}, boxes {fmt_shape(boxes)}, labels "
            f"{fmt_shape(labels)}, true_boxes {fmt_shape(true_boxes)}, present "
            f"{fmt_shape(present)} {present.dtype}"
        )


@torch.no_grad()
def match_queries(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    true_boxes: torch.Tensor,
    present: torch.Tensor,
    image_size: float,
    weights: tuple[float, float, float] = (1.0, 5.0, 2.0),
) -> list[torch.Tensor]:
    """For each image, the query that predicts each present object (Hungarian).

    The cost of giving object j to query i has DETR's form: ``-p_i(class_j)`` plus
    the L1 distance of the corners ``(x0, y0, x1, y1)`` divided by the image size
    (DETR uses normalized centre, width and height) plus ``-GIoU``, weighted by
    ``weights`` (DETR's 1, 5 and 2).

    Shapes:
        logits (B, Q, C + 1), boxes (B, Q, 4), labels (B, M), true_boxes (B, M, 4),
        present (B, M) -> B tensors (M_b,) of query indices, one per present object
    """
    _check_targets(logits, boxes, labels, true_boxes, present)
    w_class, w_l1, w_giou = weights
    probs = logits.softmax(-1)  # (B, Q, C + 1)
    out = []
    for b in range(logits.shape[0]):
        keep = present[b]
        lab, tb = labels[b][keep], true_boxes[b][keep]  # (M_b,), (M_b, 4)
        cost = (
            -w_class * probs[b][:, lab]
            + w_l1 * torch.cdist(boxes[b], tb, p=1) / image_size
            - w_giou * generalized_box_iou(boxes[b], tb)
        )  # (Q, M_b)
        out.append(hungarian(cost.T) if len(lab) else lab.new_zeros(0))
    return out


def detection_loss(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    true_boxes: torch.Tensor,
    present: torch.Tensor,
    image_size: float,
    no_object_weight: float = 0.1,
) -> torch.Tensor:
    """DETR's loss: match, then class cross-entropy over every query, L1 and GIoU
    over the matched ones.

    Unmatched queries learn the class "no object" (id C), with their cross-entropy
    down-weighted by ``no_object_weight`` since most queries are unmatched.

    Shapes:
        as :func:`match_queries` -> a scalar tensor
    """
    check_number("no_object_weight", no_object_weight, 0.0)
    matched = match_queries(logits, boxes, labels, true_boxes, present, image_size)
    b, q, c1 = logits.shape
    target = torch.full((b, q), c1 - 1, dtype=torch.long, device=logits.device)
    pred, truth = [], []
    for i, queries in enumerate(matched):
        target[i, queries] = labels[i][present[i]]
        pred.append(boxes[i, queries])
        truth.append(true_boxes[i][present[i]])
    class_weight = torch.ones(c1, device=logits.device)
    class_weight[-1] = no_object_weight
    loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), weight=class_weight)
    pred, truth = torch.cat(pred), torch.cat(truth)  # (K, 4) each
    if len(pred):
        loss = loss + 5 * F.l1_loss(pred / image_size, truth / image_size)
        loss = loss + 2 * (1 - generalized_box_iou(pred, truth).diagonal()).mean()
    return loss
