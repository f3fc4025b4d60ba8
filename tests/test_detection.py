"""Boxes, Hungarian matching and the DETR-style detector (chapter 14)."""

import itertools

import pytest
import torch

import xattn
from xattn.detection import (
    Detector,
    box_area,
    box_iou,
    detection_loss,
    generalized_box_iou,
    hungarian,
    match_queries,
)


def brute_force(cost):
    n, m = cost.shape
    return min(
        itertools.permutations(range(m), n),
        key=lambda cols: sum(cost[i, j].item() for i, j in enumerate(cols)),
    )


@pytest.mark.parametrize("n, m", [(1, 1), (1, 5), (2, 3), (3, 3), (4, 6), (6, 6)])
def test_hungarian_equals_brute_force(n, m):
    g = torch.Generator().manual_seed(n * 10 + m)
    for _ in range(25):
        cost = torch.randn(n, m, generator=g, dtype=torch.float64)
        cols = hungarian(cost)
        assert cols.shape == (n,) and cols.unique().numel() == n
        best = sum(cost[i, j].item() for i, j in enumerate(brute_force(cost)))
        assert abs(cost[torch.arange(n), cols].sum().item() - best) < 1e-9


def test_hungarian_with_integer_costs_and_ties():
    cost = torch.tensor([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    assert hungarian(cost).tolist() == [1, 0, 2]  # 1 + 2 + 2 = 5
    assert hungarian(torch.zeros(3, 3)).sort().values.tolist() == [0, 1, 2]


def test_iou_and_giou_by_hand():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0, 0, 2, 2], [4, 0, 6, 2], [3, 3, 4, 4]])
    assert torch.allclose(box_iou(a, b), torch.tensor([[1 / 7, 1.0, 0.0, 0.0]]))
    # GIoU: IoU - (hull - union) / hull; hull of a and b[2] is 6 x 2, union 8
    giou = generalized_box_iou(a, b)
    assert torch.allclose(giou[0, :3], torch.tensor([1 / 7 - 2 / 9, 1.0, -1 / 3]))
    assert giou[0, 3] < giou[0, 2] and (giou >= -1).all()
    assert box_area(torch.tensor([[2.0, 2.0, 1.0, 5.0]])).item() == 0.0


def test_detector_shapes_match_and_loss():
    cfg = xattn.Seq2SeqConfig(src_vocab_size=1, tgt_vocab_size=3, d_model=32,
                              n_heads=4, n_layers=1, dropout=0.0)  # fmt: skip
    model = Detector(cfg, n_queries=4, image_size=16, patch=4)
    logits, boxes = model(torch.rand(2, 3, 16, 16))
    assert logits.shape == (2, 4, 4) and boxes.shape == (2, 4, 4)
    assert (boxes[..., 2:] >= boxes[..., :2]).all()
    labels = torch.tensor([[0, 2], [1, 0]])
    true = torch.tensor([[[0, 0, 8, 8], [8, 8, 16, 16]], [[2, 2, 6, 6], [0, 0, 0, 0]]])
    present = torch.tensor([[True, True], [True, False]])
    matched = match_queries(logits, boxes, labels, true.float(), present, 16)
    assert [len(q) for q in matched] == [2, 1]
    loss = detection_loss(logits, boxes, labels, true.float(), present, 16)
    loss.backward()
    assert loss.item() > 0 and model.queries.grad is not None


def test_match_gives_each_object_the_query_that_predicts_it():
    logits = torch.tensor([[[0.0, 0, 0, 9], [9.0, 0, 0, 0], [0.0, 9, 0, 0]]])
    boxes = torch.tensor([[[0.0, 0, 1, 1], [0, 0, 4, 4], [4, 4, 8, 8]]])
    labels, present = torch.tensor([[1, 0]]), torch.tensor([[True, True]])
    true = torch.tensor([[[4.0, 4, 8, 8], [0, 0, 4, 4]]])
    assert match_queries(logits, boxes, labels, true, present, 8)[0].tolist() == [2, 1]


CASES = [
    (
        "iou shape",
        lambda: box_iou(torch.ones(3), torch.ones(2, 4)),
        r"a must be \(N, 4\) boxes",
    ),
    (
        "iou int",
        lambda: box_iou(torch.ones(1, 4), torch.ones(1, 4, dtype=torch.long)),
        r"b must be a floating-point tensor",
    ),
    (
        "giou shape",
        lambda: generalized_box_iou(torch.ones(2, 4), torch.ones(2, 3)),
        r"b must be \(N, 4\)",
    ),
    ("area", lambda: box_area(torch.ones(2, 5)), r"boxes must be \(N, 4\)"),
    ("hungarian tall", lambda: hungarian(torch.ones(3, 2)), r"n <= m"),
    ("hungarian dims", lambda: hungarian(torch.ones(3)), r"cost must be \(n, m\)"),
    (
        "hungarian inf",
        lambda: hungarian(torch.tensor([[1.0, float("inf")]])),
        r"finite",
    ),
    (
        "hungarian int",
        lambda: hungarian(torch.ones(2, 2, dtype=torch.long)),
        r"floating-point",
    ),
    ("detector cfg", lambda: Detector(None), r"cfg must be a Seq2SeqConfig"),
    (
        "detector queries",
        lambda: Detector(xattn.Seq2SeqConfig(1, 3, d_model=32), n_queries=0),
        r"n_queries must be a positive int",
    ),
    (
        "match shapes",
        lambda: match_queries(
            torch.ones(1, 2, 4),
            torch.ones(1, 2, 4),
            torch.zeros(1, 3, dtype=torch.long),
            torch.ones(1, 3, 4),
            torch.ones(1, 3, dtype=torch.bool),
            8,
        ),
        r"M <= Q",
    ),
    (
        "loss weight",
        lambda: detection_loss(
            torch.ones(1, 2, 4),
            torch.ones(1, 2, 4),
            torch.zeros(1, 1, dtype=torch.long),
            torch.ones(1, 1, 4),
            torch.ones(1, 1, dtype=torch.bool),
            8,
            no_object_weight=-1.0,
        ),
        r"no_object_weight must be a finite number",
    ),
]


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
