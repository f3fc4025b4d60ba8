"""Generated scenes, captions, splits, grounding and BLEU (chapter 14)."""

import math

import pytest
import torch

from xattn.tasks.scenes import (
    SHAPES,
    SceneTask,
    bleu,
    grounding_accuracy,
    grounding_chance,
    patch_centres,
)


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
            colour = torch.tensor(
                {"red": (0.95, 0.15, 0.15), "green": (0.15, 0.8, 0.2),
                 "blue": (0.2, 0.35, 1.0), "yellow": (1.0, 0.9, 0.1)}[o.colour]
            )  # fmt: skip
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


CASES = [
    ("split", lambda: SceneTask().examples("dev", 3), r"split must be one of"),
    ("n 0", lambda: SceneTask().examples("train", 0), r"n must be a positive int"),
    (
        "objects",
        lambda: SceneTask(min_objects=3, max_objects=2),
        r"at most max_objects",
    ),
    ("side", lambda: SceneTask(max_side=20), r"max_side <= 2 \* cell"),
    ("cell", lambda: SceneTask(size=50), r"multiple of cell"),
    ("encode empty", lambda: SceneTask().encode([]), r"at least one scene"),
    ("targets empty", lambda: SceneTask().targets([]), r"at least one scene"),
    ("bleu lengths", lambda: bleu([["a"]], []), r"same length"),
    ("bleu strings", lambda: bleu(["a b"], ["a b"]), r"lists of words"),
    (
        "bleu max_n",
        lambda: bleu([["a"]], [["a"]], max_n=0),
        r"max_n must be a positive",
    ),
    ("centres", lambda: patch_centres(48, 7), r"divisible by patch"),
    (
        "grounding dims",
        lambda: grounding_accuracy(
            torch.ones(2, 36), SceneTask().examples("test", 2), 8
        ),
        r"weights must be \(B, Lq, N\)",
    ),
    (
        "grounding patches",
        lambda: grounding_accuracy(
            torch.ones(2, 9, 16), SceneTask().examples("test", 2), 8
        ),
        r"one column per patch: 36 patches",
    ),
    (
        "grounding batch",
        lambda: grounding_accuracy(
            torch.ones(3, 9, 36), SceneTask().examples("test", 2), 8
        ),
        r"one row block per example",
    ),
]


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
