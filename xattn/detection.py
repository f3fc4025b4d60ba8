"""Detection with object queries: a set of learned queries cross-attends to patches.

DETR (Carion et al. 2020) without the convolutional backbone: Q learned query vectors
go through the chapter-7 decoder, cross-attending to the patch features of
:class:`xattn.patches.PatchEncoder`; each query then predicts one object's class, or
"no object", and its box. Training matches the Q predictions to the true objects one
to one with the Hungarian method (:func:`xattn.hungarian`), so that each
object is predicted by exactly one query and the others learn to say "no object".

Boxes are ``(x0, y0, x1, y1)`` in pixels throughout (:mod:`xattn.boxes`);
:mod:`xattn.detection_scores` scores a trained detector.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from xattn.boxes import box_area, box_iou, generalized_box_iou  # noqa: F401
from xattn.checks import (
    check_bool,
    check_floating,
    check_number,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.matching import hungarian, hungarian_step  # noqa: F401
from xattn.model import Decoder, Seq2SeqConfig
from xattn.patches import PatchEncoder, _check_image_batch

__all__ = [
    "Detector",
    "match_queries",
    "detection_loss",
]


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _check_detector(
    self, cfg, n_queries=4, image_size=48, patch=8, encoder_layers=None, causal=False
) -> None:
    if not isinstance(cfg, Seq2SeqConfig):
        raise ValueError(f"cfg must be a Seq2SeqConfig, got {type(cfg).__name__}")
    check_positive_int("n_queries", n_queries)
    check_bool("causal", causal)


def _check_detector_call(self, images, every_layer=False) -> None:
    _check_image_batch("images", images, self.image_size, self.queries)
    check_bool("every_layer", every_layer)


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
        causal: mask the queries' self-attention as a text decoder's is (query i
            sees queries 0 .. i only). DETR's is not masked: every query sees every
            other one, in every layer, which can let a query whose object another
            has already claimed say "no object" instead of copying it (it does not
            guarantee it: chapter 14's set detector still predicts duplicates).

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
        causal: bool = False,
    ):
        super().__init__()
        _check_detector(self, cfg, n_queries, image_size, patch, encoder_layers, causal)
        self.cfg, self.n_queries, self.image_size = cfg, n_queries, image_size
        self.causal = causal
        self.n_classes = cfg.tgt_vocab_size
        self.encoder = PatchEncoder.from_config(cfg, image_size, patch, encoder_layers)
        self.queries = nn.Parameter(torch.randn(n_queries, cfg.d_model))
        self.decoder = Decoder(cfg)
        self.class_head = nn.Linear(cfg.d_model, self.n_classes + 1)
        self.box_head = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model), nn.ReLU(), nn.Linear(cfg.d_model, 4)
        )

    def _decode(self, x: torch.Tensor, memory: torch.Tensor) -> list[torch.Tensor]:
        """The queries after each decoder block, each through the final layer norm."""
        out = []
        for block in self.decoder.layers:
            if self.causal:  # the chapter-7 block: query i sees queries 0 .. i
                x = block(x, memory)
            else:  # the same block with its self-attention unmasked
                x = block.sub_self(x, lambda h, b=block: b.self_attn(h, h)[0])
                x = block.sub_cross(x, lambda h, b=block: self._cross(b, h, memory))
                x = block.sub_ff(x, block.ff)
            out.append(self.decoder.norm(x))  # (B, Q, D)
        return out

    @staticmethod
    def _cross(block, h: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        out, weights = block.cross_attn(h, memory, need_weights=block.keep_weights)
        block.cross_weights = weights  # kept for cross_weights(), as the decoder does
        return out

    @checked(_check_detector_call)
    def forward(
        self, images: torch.Tensor, every_layer: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each query's class logits and box; with ``every_layer``, after every
        decoder block (the same heads read each), for DETR's auxiliary losses.

        Shapes:
            images (B, 3, H, W) -> logits (B, Q, C + 1), boxes (B, Q, 4); with
            ``every_layer``: (L, B, Q, C + 1), (L, B, Q, 4) for L decoder blocks
        """
        memory = self.encoder(images)  # (B, N, D)
        x = self.queries[None].expand(memory.shape[0], -1, -1)  # (B, Q, D)
        layers = self._decode(x, memory)
        h = torch.stack(layers) if every_layer else layers[-1]  # ([L,] B, Q, D)
        cx, cy, w, h_ = self.box_head(h).sigmoid().unbind(-1)  # each ([L,] B, Q)
        boxes = torch.stack([cx - w / 2, cy - h_ / 2, cx + w / 2, cy + h_ / 2], -1)
        return self.class_head(h), boxes * self.image_size  # (B, Q, C+1), (B, Q, 4)


def _check_targets(logits, boxes, labels, true_boxes, present, image_size) -> None:
    """The inputs of :func:`match_queries` and :func:`detection_loss`."""
    check_floating("logits", logits)
    if logits.dim() != 3 or logits.shape[-1] < 2:
        raise ValueError(
            "logits must be (B, Q, C + 1), at least one class and 'no object', got "
            f"logits {fmt_shape(logits)}"
        )
    b, q, c1 = logits.shape
    check_floating("boxes", boxes)
    check_floating("true_boxes", true_boxes)
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.long:
        raise ValueError(
            "labels must be a torch.long tensor of class ids, got "
            + (str(labels.dtype) if isinstance(labels, torch.Tensor) else type(labels))
        )
    if not isinstance(present, torch.Tensor) or present.dtype != torch.bool:
        raise ValueError("present must be a bool tensor, True where an object is")
    m = labels.shape[1] if labels.dim() == 2 else -1
    if (
        tuple(boxes.shape) != (b, q, 4)
        or labels.dim() != 2
        or len(labels) != b
        or tuple(true_boxes.shape) != (b, m, 4)
        or tuple(present.shape) != (b, m)
        or m > q
    ):
        raise ValueError(
            "need logits (B, Q, C + 1), boxes (B, Q, 4), labels (B, M), true_boxes "
            "(B, M, 4), present (B, M) with M <= Q; got logits "
            f"{fmt_shape(logits)}, boxes {fmt_shape(boxes)}, labels "
            f"{fmt_shape(labels)}, true_boxes {fmt_shape(true_boxes)}, present "
            f"{fmt_shape(present)}"
        )
    if boxes.dtype != logits.dtype or true_boxes.dtype != logits.dtype:
        raise ValueError(
            f"logits, boxes and true_boxes must share a dtype: {logits.dtype}, "
            f"{boxes.dtype}, {true_boxes.dtype}"
        )
    tensors = dict(boxes=boxes, labels=labels, true_boxes=true_boxes, present=present)
    for name, t in tensors.items():
        if t.device != logits.device:
            raise ValueError(
                f"{name} must be on the device of logits ({logits.device}), got "
                f"{t.device}"
            )
    real = labels[present]
    if real.numel() and not bool(((real >= 0) & (real < c1 - 1)).all()):
        raise ValueError(
            f"labels of present objects must be class ids in [0, {c1 - 1}) (C = "
            f"{c1 - 1}; id {c1 - 1} is 'no object'), got {real.min().item()} to "
            f"{real.max().item()}"
        )
    check_number("image_size", image_size, 0.0, low_open=True)


def _check_match_queries(
    logits, boxes, labels, true_boxes, present, image_size, weights=(1.0, 5.0, 2.0)
) -> None:
    _check_targets(logits, boxes, labels, true_boxes, present, image_size)
    if (
        not isinstance(weights, (tuple, list))
        or len(weights) != 3
        or not all(_is_number(w) and w >= 0 for w in weights)
    ):
        raise ValueError(
            "weights must be three finite numbers >= 0 (class, L1, GIoU), got "
            f"{weights!r}"
        )


@checked(_check_match_queries)
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


def _check_detection_loss(
    logits, boxes, labels, true_boxes, present, image_size, no_object_weight=0.1
) -> None:
    _check_targets(logits, boxes, labels, true_boxes, present, image_size)
    check_number("no_object_weight", no_object_weight, 0.0)


@checked(_check_detection_loss)
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
    over the matched ones, with DETR's weights 1, 5 and 2.

    Unmatched queries learn the class "no object" (id C), with their cross-entropy
    down-weighted by ``no_object_weight`` since most queries are unmatched. The L1
    term is, as in DETR, summed over a box's four coordinates (divided by the image
    size) and averaged over the boxes: the same distance the matching cost uses.

    Shapes:
        as :func:`match_queries` -> a scalar tensor
    """
    matched = match_queries(logits, boxes, labels, true_boxes, present, image_size)
    b, q, c1 = logits.shape
    target = torch.full((b, q), c1 - 1, dtype=torch.long, device=logits.device)
    pred, truth = [], []
    for i, queries in enumerate(matched):
        target[i, queries] = labels[i][present[i]]
        pred.append(boxes[i, queries])
        truth.append(true_boxes[i][present[i]])
    class_weight = torch.ones(c1, dtype=logits.dtype, device=logits.device)
    class_weight[-1] = no_object_weight
    loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), weight=class_weight)
    pred, truth = torch.cat(pred), torch.cat(truth)  # (K, 4) each
    if len(pred):
        l1 = (pred - truth).abs().sum(-1).mean() / image_size  # per box, 4 coordinates
        loss = loss + 5 * l1
        loss = loss + 2 * (1 - generalized_box_iou(pred, truth).diagonal()).mean()
    return loss
