"""Boxes, Hungarian matching, the DETR-style detector and its scores (chapter 14).

Bad calls are in tests/test_errors_vision.py.
"""

import itertools

import pytest
import torch

import xattn
from xattn.boxes import box_area, box_iou, generalized_box_iou
from xattn.detection import Detector, detection_loss, match_queries
from xattn.detection_scores import count_duplicates, precision_recall
from xattn.matching import hungarian, hungarian_step

DET_CFG = xattn.Seq2SeqConfig(
    src_vocab_size=1, tgt_vocab_size=3, d_model=32, n_heads=4, n_layers=1, dropout=0.0
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
    cfg = DET_CFG
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


def test_hungarian_step_adds_one_row_and_keeps_the_earlier_ones_optimal():
    cost = [[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]]
    u, v, owner = [0.0] * 4, [0.0] * 4, [0] * 4
    hungarian_step(cost, 1, u, v, owner)
    assert owner == [1, 0, 1, 0]  # row 1 takes column 2, its cheapest (owner[0]: 1)
    hungarian_step(cost, 2, u, v, owner)
    assert sorted(owner[1:]) == [0, 1, 2]  # two rows hold two columns
    held = {j: owner[j] for j in range(1, 4) if owner[j]}
    assert sum(cost[i - 1][j - 1] for j, i in held.items()) == 3.0  # 1 + 2, optimal
    # the potentials certify it: u_i + v_j <= c_ij everywhere, with equality on it
    for i in (1, 2):
        for j in (1, 2, 3):
            assert u[i] + v[j] <= cost[i - 1][j - 1] + 1e-12
    assert all(abs(u[i] + v[j] - cost[i - 1][j - 1]) < 1e-12 for j, i in held.items())


def test_a_set_decoder_lets_every_query_see_every_other():
    torch.manual_seed(0)
    images = torch.rand(1, 3, 16, 16)
    for causal, first_moves in ((True, False), (False, True)):
        model = Detector(DET_CFG, n_queries=4, image_size=16, patch=4, causal=causal)
        model.eval()
        before = model(images)[0]
        with torch.no_grad():  # change the last query only (not by a constant, which
            model.queries[3] += torch.randn(32)  # every layer norm would remove)
        after = model(images)[0]
        assert not torch.allclose(before[0, 3], after[0, 3])
        assert (not torch.allclose(before[0, 0], after[0, 0])) == first_moves


def test_the_set_decoder_keeps_its_cross_attention_weights():
    model = Detector(DET_CFG, n_queries=4, image_size=16, patch=4).eval()
    model.decoder.keep_cross_weights()
    model(torch.rand(2, 3, 16, 16))
    w = model.decoder.cross_weights()
    assert w.shape == (len(model.decoder.layers), 2, 4, 4, 16)
    assert torch.allclose(w.sum(-1), torch.ones(w.shape[:-1]))


def test_the_l1_term_sums_the_four_coordinates_as_the_matching_cost_does():
    # One object, one query: the class term is fixed, the boxes differ by 1 pixel in
    # each of the four coordinates, so L1 is 4 / 8 per box (DETR's sum), not 1 / 8.
    logits = torch.tensor([[[0.0, 0.0]]])
    pred = torch.tensor([[[1.0, 1.0, 5.0, 5.0]]])
    true = torch.tensor([[[0.0, 0.0, 4.0, 4.0]]])
    labels, present = torch.tensor([[0]]), torch.tensor([[True]])
    loss = detection_loss(logits, pred, labels, true, present, 8)
    giou = generalized_box_iou(pred[0], true[0])[0, 0]
    expected = torch.log(torch.tensor(2.0)) + 5 * 4 / 8 + 2 * (1 - giou)
    assert torch.isclose(loss, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_function_works_in_float32_and_float64(dtype):
    torch.manual_seed(0)
    model = Detector(DET_CFG, n_queries=4, image_size=16, patch=4).to(dtype)
    logits, boxes = model(torch.rand(2, 3, 16, 16, dtype=dtype))
    assert logits.dtype == boxes.dtype == dtype
    labels = torch.tensor([[0, 2], [1, 0]])
    true = torch.tensor(
        [[[0, 0, 8, 8], [8, 8, 16, 16]], [[2, 2, 6, 6], [0, 0, 0, 0]]], dtype=dtype
    )
    present = torch.tensor([[True, True], [True, False]])
    loss = detection_loss(logits, boxes, labels, true, present, 16)
    assert loss.dtype == dtype
    loss.backward()
    matched = match_queries(logits, boxes, labels, true, present, 16)
    assert [len(q) for q in matched] == [2, 1]
    p, r = precision_recall(logits, boxes, labels, true, present, threshold=0.1)
    assert 0 <= p <= 1 and 0 <= r <= 1
    spare, predicting, copies = count_duplicates(logits, boxes, true, present, matched)
    assert spare == 5 and 0 <= copies <= predicting <= spare
    a = true[0]
    for fn in (box_iou, generalized_box_iou):
        assert fn(a, a).dtype == dtype
    assert box_area(a).dtype == dtype
    assert hungarian(torch.rand(2, 3, dtype=dtype)).dtype == torch.long


def scores_case():
    """Two images: one query right, one duplicate of it, one of the wrong class, one
    that says "no object"; the second image's object is missed."""
    sure, no = [0.0, 9.0, 0.0, 0.0], [0.0, 0.0, 0.0, 9.0]
    dup = [0.0, 5.0, 0.0, 0.0]  # class 1 too, less sure
    wrong = [0.0, 0.0, 6.0, 0.0]  # class 2 on the box of the class-1 object
    logits = torch.tensor([[sure, dup, wrong, no], [no, no, no, no]])
    obj = [0.0, 0.0, 4.0, 4.0]
    boxes = torch.tensor([[obj, obj, obj, obj], [obj, obj, obj, obj]])
    labels = torch.tensor([[1], [0]])
    true = torch.tensor([[obj], [[4.0, 4.0, 8.0, 8.0]]])
    present = torch.tensor([[True], [True]])
    return logits, boxes, labels, true, present


def test_precision_and_recall_count_duplicates_as_false_positives():
    logits, boxes, labels, true, present = scores_case()
    p, r = precision_recall(logits, boxes, labels, true, present)
    assert (p, r) == (1 / 3, 1 / 2)  # 3 predictions, 1 right; 1 of 2 objects found
    # A threshold above the duplicate's and the wrong class's probability leaves one.
    assert precision_recall(logits, boxes, labels, true, present, threshold=0.995) == (
        1.0,
        0.5,
    )
    # No prediction at all: precision 0 by convention, recall 0.
    assert precision_recall(logits, boxes, labels, true, present, threshold=1.0) == (
        0.0,
        0.0,
    )
    # The duplicate is the better-scored one: it claims the object, the other is false.
    swapped = logits[:, [1, 0, 2, 3]]
    assert precision_recall(swapped, boxes, labels, true, present) == (1 / 3, 1 / 2)


def test_count_duplicates_of_the_spare_queries():
    logits, boxes, labels, true, present = scores_case()
    matched = [torch.tensor([0]), torch.tensor([1])]
    # image 1: 3 spare queries, 2 predict an object, both on the true box;
    # image 2: 3 spare queries, all "no object"
    assert count_duplicates(logits, boxes, true, present, matched) == (6, 2, 2)
    far = boxes.clone()
    far[0, 1] = torch.tensor([40.0, 40.0, 44.0, 44.0])  # no longer a copy
    assert count_duplicates(logits, far, true, present, matched) == (6, 2, 1)
