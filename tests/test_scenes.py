"""Generated scenes, captions, splits, grounding and BLEU (chapter 14).

Bad calls are in tests/test_errors_vision.py.
"""

import math
from collections import Counter

import pytest
import torch

from xattn.tasks.bleu import bleu, ngram_counts
from xattn.tasks.grounding import (
    grounding_accuracy,
    grounding_chance,
    patch_centres,
    patches_in_box,
    word_boxes,
)
from xattn.tasks.scene_objects import COLOURS, SHAPES
from xattn.tasks.scenes import SceneTask


@pytest.fixture(scope="module")
def task():
    return SceneTask()


def test_examples_are_a_pure_function_of_split_n_and_seed(task):
    a, b = task.examples("train", 20, seed=3), task.examples("train", 20, seed=3)
    assert [e.caption for e in a] == [e.caption for e in b]
    assert all(torch.equal(x.image, y.image) for x, y in zip(a, b))
    assert [e.caption for e in task.examples("train", 20, seed=4)] != [
        e.caption for e in a
    ]


def test_splits_share_no_layout(task):
    keys = {
        s: {task.layout(e) for e in task.examples(s, 400)}
        for s in ("train", "val", "test")
    }
    assert not keys["train"] & keys["test"]
    assert not keys["train"] & keys["val"] and not keys["val"] & keys["test"]


def test_captions_objects_and_boxes_agree(task):
    for e in task.examples("test", 50):
        assert e.image.shape == (3, 48, 48) and 0 <= e.image.min() <= e.image.max() <= 1
        words = e.words
        assert words[0] == "a" and len(e.objects) == 2
        first, second = e.objects
        assert words[1:3] == [first.colour, first.shape]
        assert words[-2:] == [second.colour, second.shape]
        (ax, ay), (bx, by) = first.centre, second.centre
        assert ax + ay < bx + by  # reading order
        if words[3] == "left":
            assert bx - ax > abs(by - ay)
        else:
            assert words[3] == "above" and by - ay > abs(bx - ax)
        for o in e.objects:
            x0, y0, x1, y1 = o.box
            inside = e.image[:, y0:y1, x0:x1]
            colour = torch.tensor(COLOURS[o.colour])
            painted = (inside - colour[:, None, None]).abs().amax(0) < 1e-6
            assert painted.any()
            outside = e.image.clone()
            outside[:, y0:y1, x0:x1] = 0.1
        assert e.word_objects == [-1, 0, 0, *([-1] * (len(words) - 5)), 1, 1]


def test_encode_pads_and_shifts(task):
    ex = task.examples("val", 5)
    images, tgt_in, tgt_out = task.encode(ex)
    assert images.shape == (5, 3, 48, 48)
    v = task.vocab
    assert (tgt_in[:, 0] == v.bos_id).all()
    for a, b in zip(tgt_in, tgt_out):
        assert a[a != 0][1:].tolist() == b[b != 0][:-1].tolist()
        assert b[b != 0][-1].item() == v.eos_id
    for row, e in zip(tgt_out, ex):
        assert v.decode(row) == e.caption


def test_detection_targets():
    task = SceneTask(min_objects=1, max_objects=3)
    ex = task.examples("train", 30)
    labels, boxes, present = task.targets(ex)
    assert labels.shape == present.shape == (30, 3) and boxes.shape == (30, 3, 4)
    assert present.sum(1).tolist() == [len(e.objects) for e in ex]
    assert {len(e.objects) for e in ex} == {1, 2, 3}
    e = ex[0]
    assert labels[0, 0].item() == SHAPES.index(e.objects[0].shape)
    assert boxes[0, 0].tolist() == list(e.objects[0].box)


def test_grounding_of_a_perfect_and_a_fixed_map(task):
    ex = task.examples("test", 40)
    _, _, tgt_out = task.encode(ex)
    centres = patch_centres(48, 8)
    w = torch.zeros(len(ex), tgt_out.shape[1], 36)
    for b, e in enumerate(ex):
        for t, k in enumerate(e.word_objects):
            x0, y0, x1, y1 = e.objects[max(k, 0)].box
            inside = (centres[:, 0] >= x0) & (centres[:, 0] < x1)
            inside &= (centres[:, 1] >= y0) & (centres[:, 1] < y1)
            w[b, t, inside.nonzero()[0]] = 1.0
    assert grounding_accuracy(w, ex, 8).item() == 1.0
    uniform = torch.full_like(w, 1 / 36)  # argmax: patch 0, rarely inside a box
    assert grounding_accuracy(uniform, ex, 8).item() < 0.2
    chance = grounding_chance(ex, 8)
    assert 3 / 36 < chance < 5 / 36


def test_patch_centres():
    c = patch_centres(16, 8)
    assert c.tolist() == [[4, 4], [12, 4], [4, 12], [12, 12]]


def test_bleu_on_hand_computed_cases():
    ref = "a red circle left of a blue square".split()
    assert bleu([ref], [ref]) == 1.0
    assert bleu(["x y z w".split()], [ref]) == 0.0
    cand = "a red circle above of a blue square".split()
    assert math.isclose(bleu([cand], [ref]), (7 / 8 * 5 / 7 * 3 / 6 * 1 / 5) ** 0.25)
    short = "a red circle left".split()
    assert math.isclose(bleu([short], [ref]), math.exp(1 - 8 / 4))
    # clipping: "a a a a" against "a b": 1 of 4 unigrams
    assert math.isclose(bleu(["a a a a".split()], ["a b c d".split()], max_n=1), 0.25)
    # corpus counts are summed before the mean, not averaged per sentence
    two = bleu([ref, "a b".split()], [ref, "a c".split()], max_n=1)
    assert math.isclose(two, 9 / 10)


def test_split_of_is_the_split_a_scene_was_drawn_for(task):
    for split in ("train", "val", "test"):
        assert {task.split_of(e) for e in task.examples(split, 30)} == {split}


def test_a_larger_margin_keeps_relations_clear():
    wide = SceneTask(margin=8)
    for e in wide.examples("train", 100):
        (ax, ay), (bx, by) = (o.centre for o in e.objects)
        assert abs(abs(bx - ax) - abs(by - ay)) >= 8


def test_patches_in_box_and_word_boxes(task):
    assert patches_in_box((0, 0, 16, 16), 48, 8).nonzero()[:, 0].tolist() == [
        0,
        1,
        6,
        7,
    ]
    assert patches_in_box(torch.tensor([4, 4, 5, 5]), 48, 8).sum() == 1  # centre 4, 4
    ex = task.examples("test", 5)
    inside, named = word_boxes(ex, 10, 8)
    assert inside.shape == (5, 10, 36) and named.shape == (5, 10)
    for b, e in enumerate(ex):
        assert named[b].nonzero()[:, 0].tolist() == [
            t for t, k in enumerate(e.word_objects) if k >= 0
        ]
        for t, k in enumerate(e.word_objects):
            expected = patches_in_box(e.objects[k].box, 48, 8) if k >= 0 else None
            if expected is None:
                assert not inside[b, t].any()
            else:
                assert torch.equal(inside[b, t], expected)


def test_ngram_counts():
    words = "a red circle left of a red square".split()
    assert ngram_counts(words, 2)[("a", "red")] == 2
    assert ngram_counts(words, 1) == Counter((w,) for w in words)
    assert ngram_counts(words, 9) == Counter()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batches_and_scores_in_float32_and_float64(task, dtype):
    ex = task.examples("val", 4)
    images, tgt_in, _ = task.encode(ex, dtype=dtype)
    assert images.dtype == dtype and tgt_in.dtype == torch.long
    labels, boxes, present = SceneTask(min_objects=1, max_objects=3).targets(
        SceneTask(min_objects=1, max_objects=3).examples("val", 4), dtype=dtype
    )
    assert boxes.dtype == dtype and labels.dtype == torch.long
    w = torch.rand(4, tgt_in.shape[1], 36, dtype=dtype)
    assert 0 <= grounding_accuracy(w, ex, 8).item() <= 1
