"""Bad calls of the vision, detection and scene modules (chapter 14): each a ValueError
that names the argument and the rule it breaks.

Many of these once escaped as another exception (an IndexError from an embedding, a
RuntimeError from a matrix product of two dtypes, an AttributeError), passed silently
(an ``eos_id`` no word has, ``n_queries=True``) or blamed the wrong argument (an
``image_size`` of 0 reported as a cost that is not finite), or never returned (a
scene task whose settings allow no layout).
"""

import pytest
import torch

import xattn
from xattn.boxes import box_area, box_iou, generalized_box_iou
from xattn.detection import Detector, detection_loss, match_queries
from xattn.detection_scores import count_duplicates, precision_recall
from xattn.matching import hungarian, hungarian_step
from xattn.patches import PatchEncoder, patchify, positions_2d
from xattn.tasks.bleu import bleu, ngram_counts
from xattn.tasks.grounding import (
    grounding_accuracy,
    grounding_chance,
    patch_centres,
    patches_in_box,
    word_boxes,
)
from xattn.tasks.scenes import SceneTask
from xattn.vision import Captioner, doubly_stochastic_penalty

CFG = xattn.Seq2SeqConfig(
    src_vocab_size=1,
    tgt_vocab_size=12,
    d_model=32,
    n_heads=4,
    n_layers=1,
    n_decoder_layers=1,
    dropout=0.0,
    max_len=16,
)
DET_CFG = xattn.Seq2SeqConfig(
    src_vocab_size=1, tgt_vocab_size=3, d_model=32, n_heads=4, n_layers=1, dropout=0.0
)
CAPTIONER = Captioner(CFG, 8, 4).eval()
DETECTOR = Detector(DET_CFG, n_queries=4, image_size=8, patch=4).eval()
IMAGES = torch.rand(2, 3, 8, 8)
WORDS = torch.ones(2, 3, dtype=torch.long)
TASK = SceneTask()
SCENES = TASK.examples("test", 2)

# A detector's output and two images' objects: 2 and 1 present, classes 0 .. 2.
LOGITS, BOXES = torch.randn(2, 4, 4), torch.tensor([[0.0, 0, 4, 4]]).repeat(2, 4, 1)
LABELS = torch.tensor([[0, 2], [1, 0]])
TRUE = torch.tensor([[[0.0, 0, 4, 4], [4, 4, 8, 8]], [[2, 2, 6, 6], [0, 0, 0, 0]]])
PRESENT = torch.tensor([[True, True], [True, False]])
MATCHED = [torch.tensor([0, 1]), torch.tensor([2])]


def targets(**change):
    """The arguments of match_queries and detection_loss, some changed."""
    args = dict(
        logits=LOGITS,
        boxes=BOXES,
        labels=LABELS,
        true_boxes=TRUE,
        present=PRESENT,
        image_size=8,
    )
    return {**args, **change}


CASES = [
    # ---- patches ----
    (
        "patchify int",
        lambda: patchify(torch.ones(1, 3, 8, 8, dtype=torch.long), 4),
        r"images must be a floating-point tensor",
    ),
    (
        "patchify a list",
        lambda: patchify([[1.0]], 4),
        r"images must be a torch.Tensor, got list",
    ),
    (
        "patchify dims",
        lambda: patchify(torch.ones(3, 8, 8), 4),
        r"images must be \(B, C, H, W\)",
    ),
    (
        "patchify divisible",
        lambda: patchify(torch.ones(1, 3, 8, 6), 4),
        r"W=6 must be divisible by patch=4",
    ),
    (
        "patchify patch 0",
        lambda: patchify(torch.ones(1, 3, 8, 8), 0),
        r"patch must be a positive int, got 0",
    ),
    (
        "patchify patch True",
        lambda: patchify(torch.ones(1, 3, 8, 8), True),
        r"patch must be a positive int, got True",
    ),
    ("positions d", lambda: positions_2d(2, 2, 6), r"divisible by 4"),
    ("positions rows", lambda: positions_2d(0, 2, 8), r"rows must be a positive int"),
    (
        "positions cols float",
        lambda: positions_2d(2, 2.0, 8),
        r"cols must be a positive int, got 2.0",
    ),
    (
        "encoder size",
        lambda: PatchEncoder(10, 4, 32),
        r"image_size=10 must be divisible",
    ),
    (
        "encoder layers",
        lambda: PatchEncoder(8, 4, 32, 4, -1),
        r"n_layers must be an int >= 0",
    ),
    (
        "encoder layers True",
        lambda: PatchEncoder(8, 4, 32, 4, True),
        r"n_layers must be an int >= 0, got True",
    ),
    (
        "encoder width",
        lambda: PatchEncoder(8, 4, 30),
        r"d_model must be divisible by 4",
    ),
    (
        "encoder heads",
        lambda: PatchEncoder(8, 4, 32, 5),
        r"d_model=32 must be divisible by n_heads=5",
    ),
    (
        "encoder d_ff",
        lambda: PatchEncoder(8, 4, 32, 4, 1, 0),
        r"d_ff must be a positive",
    ),
    (
        "encoder dropout",
        lambda: PatchEncoder(8, 4, 32, 4, 1, None, 1.5),
        r"dropout must be a finite number in \[0, 1\)",
    ),
    (
        "encoder images",
        lambda: PatchEncoder(8, 4, 32)(torch.ones(1, 3, 16, 16)),
        r"images must be \(B, 3, 8, 8\), got images \(1, 3, 16, 16\)",
    ),
    (
        "encoder images of another dtype",
        lambda: PatchEncoder(8, 4, 32)(torch.ones(1, 3, 8, 8, dtype=torch.float64)),
        r"images must have the model's dtype and device \(torch.float32 on cpu\), got "
        r"torch.float64",
    ),
    # ---- the captioner ----
    (
        "captioner cfg",
        lambda: Captioner({"d_model": 32}),
        r"cfg must be a Seq2SeqConfig",
    ),
    (
        "captioner encoder layers",
        lambda: Captioner(CFG, 8, 4, encoder_layers=-1),
        r"n_layers must be an int >= 0, got -1",
    ),
    (
        "captioner ids",
        lambda: CAPTIONER(IMAGES, torch.ones(2, 3)),
        r"tgt_in must be \(B, Lq\) torch.long",
    ),
    (
        "captioner ids beyond the vocabulary",
        lambda: CAPTIONER(IMAGES, torch.full((2, 3), 12)),
        r"tgt_in must hold word ids in \[0, 12\) for tgt_vocab_size=12, got ids from "
        r"12 to 12",
    ),
    (
        "captioner negative ids",
        lambda: CAPTIONER(IMAGES, torch.full((2, 3), -1)),
        r"word ids in \[0, 12\)",
    ),
    (
        "captioner batch",
        lambda: CAPTIONER(IMAGES, torch.ones(1, 3, dtype=torch.long)),
        r"share the batch size",
    ),
    (
        "captioner long",
        lambda: CAPTIONER(IMAGES[:1], torch.ones(1, 17, dtype=torch.long)),
        r"longer than max_len=16",
    ),
    (
        "captioner empty caption",
        lambda: CAPTIONER(IMAGES, torch.ones(2, 0, dtype=torch.long)),
        r"tgt_in \(2, 0\) has no positions",
    ),
    (
        "captioner float64 images",
        lambda: CAPTIONER(IMAGES.double(), WORDS),
        r"images must have the model's dtype",
    ),
    (
        "decode memory width",
        lambda: CAPTIONER.decode(WORDS, torch.rand(2, 4, 31)),
        r"memory must be \(B, N, 32\) for d_model=32, with the batch of tgt_in "
        r"\(2, 3\), got memory \(2, 4, 31\)",
    ),
    (
        "decode memory batch",
        lambda: CAPTIONER.decode(WORDS, torch.rand(3, 4, 32)),
        r"with the batch of tgt_in \(2, 3\), got memory \(3, 4, 32\)",
    ),
    (
        "generate bos_id 99",
        lambda: CAPTIONER.generate(IMAGES, 99, 2),
        r"bos_id must be a word id in \[0, 12\) other than pad_id=0, got bos_id=99",
    ),
    (
        "generate bos_id pad",
        lambda: CAPTIONER.generate(IMAGES, 0, 2),
        r"bos_id must be a word id .* got bos_id=0",
    ),
    (
        "generate eos_id 99",
        lambda: CAPTIONER.generate(IMAGES, 1, 99),
        r"eos_id must be a word id in \[0, 12\) other than pad_id=0, got eos_id=99",
    ),
    (
        "generate eos_id a float",
        lambda: CAPTIONER.generate(IMAGES, 1, 2.0),
        r"eos_id must be an int >= 0, got 2.0",
    ),
    (
        "generate max_len 0",
        lambda: CAPTIONER.generate(IMAGES, 1, 2, 0),
        r"max_len must be a positive int, got 0",
    ),
    (
        "generate max_len past the positions",
        lambda: CAPTIONER.generate(IMAGES, 1, 2, 17),
        r"max_len must be at most the model's max_len=16 .*got max_len=17",
    ),
    (
        "generate images",
        lambda: CAPTIONER.generate(torch.rand(2, 3, 9, 9), 1, 2),
        r"images must be \(B, 3, 8, 8\), got images \(2, 3, 9, 9\)",
    ),
    (
        "penalty dims",
        lambda: doubly_stochastic_penalty(torch.ones(2, 3)),
        r"weights must be \(B, Lq, N\)",
    ),
    (
        "penalty mask",
        lambda: doubly_stochastic_penalty(
            torch.ones(2, 3, 4), torch.ones(2, 4, dtype=torch.bool)
        ),
        r"tgt_mask must be bool \(B, Lq\) = \(2, 3\)",
    ),
    (
        "penalty mask a list",
        lambda: doubly_stochastic_penalty(torch.ones(2, 3, 4), [[True] * 3] * 2),
        r"tgt_mask must be bool \(B, Lq\) = \(2, 3\) .*got tgt_mask list",
    ),
    (
        "penalty tau",
        lambda: doubly_stochastic_penalty(torch.ones(2, 3, 4), tau=-1.0),
        r"tau must be a finite number",
    ),
    (
        "penalty tau nan",
        lambda: doubly_stochastic_penalty(torch.ones(2, 3, 4), tau=float("nan")),
        r"tau must be a finite number",
    ),
    # ---- boxes ----
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
        "iou of two dtypes",
        lambda: box_iou(torch.ones(1, 4), torch.ones(1, 4, dtype=torch.float64)),
        r"a and b must share a dtype and a device: a torch.float32 on cpu vs b "
        r"torch.float64 on cpu",
    ),
    (
        "giou shape",
        lambda: generalized_box_iou(torch.ones(2, 4), torch.ones(2, 3)),
        r"b must be \(N, 4\)",
    ),
    ("area", lambda: box_area(torch.ones(2, 5)), r"boxes must be \(N, 4\)"),
    # ---- matching ----
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
    (
        "hungarian_step cost a tensor",
        lambda: hungarian_step(torch.ones(2, 2), 1, [0.0] * 3, [0.0] * 3, [0] * 3),
        r"c must be the cost as a list of n rows of m finite numbers",
    ),
    (
        "hungarian_step row 0",
        lambda: hungarian_step([[1.0, 2.0]], 0, [0.0] * 2, [0.0] * 3, [0] * 3),
        r"i must be an int >= 1, got 0",
    ),
    (
        "hungarian_step row past the last",
        lambda: hungarian_step([[1.0, 2.0]], 2, [0.0] * 2, [0.0] * 3, [0] * 3),
        r"i must be a row number in \[1, 1\] \(1-based\), got i=2",
    ),
    (
        "hungarian_step short potentials",
        lambda: hungarian_step([[1.0, 2.0]], 1, [0.0] * 2, [0.0] * 2, [0] * 3),
        r"v must be a list of 3 entries for a \(1, 2\) cost",
    ),
    # ---- the detector ----
    ("detector cfg", lambda: Detector(None), r"cfg must be a Seq2SeqConfig"),
    (
        "detector queries",
        lambda: Detector(DET_CFG, n_queries=0),
        r"n_queries must be a positive int",
    ),
    (
        "detector queries True",
        lambda: Detector(DET_CFG, n_queries=True),
        r"n_queries must be a positive int, got True",
    ),
    (
        "detector causal 1",
        lambda: Detector(DET_CFG, causal=1),
        r"causal must be True or False, got 1",
    ),
    (
        "detector image size",
        lambda: Detector(DET_CFG, image_size=10, patch=4),
        r"image_size=10 must be divisible by patch=4",
    ),
    (
        "detector images",
        lambda: DETECTOR(torch.rand(2, 3, 16, 16)),
        r"images must be \(B, 3, 8, 8\), got images \(2, 3, 16, 16\)",
    ),
    (
        "detector float64 images",
        lambda: DETECTOR(IMAGES.double()),
        r"images must have the model's dtype",
    ),
    (
        "match shapes",
        lambda: match_queries(**targets(labels=torch.zeros(2, 5, dtype=torch.long))),
        r"M <= Q",
    ),
    (
        "match image_size 0",
        lambda: match_queries(**targets(image_size=0)),
        r"image_size must be a finite number in \(0, inf\], got 0",
    ),
    (
        "match image_size inf",
        lambda: match_queries(**targets(image_size=float("inf"))),
        r"image_size must be a finite number",
    ),
    (
        "match class id of 'no object'",
        lambda: match_queries(**targets(labels=torch.tensor([[0, 3], [1, 0]]))),
        r"labels of present objects must be class ids in \[0, 3\) \(C = 3; id 3 is "
        r"'no object'\), got 0 to 3",
    ),
    (
        "match float labels",
        lambda: match_queries(**targets(labels=LABELS.float())),
        r"labels must be a torch.long tensor of class ids, got torch.float32",
    ),
    (
        "match int present",
        lambda: match_queries(**targets(present=PRESENT.long())),
        r"present must be a bool tensor",
    ),
    (
        "match int logits",
        lambda: match_queries(**targets(logits=LOGITS.long())),
        r"logits must be a floating-point tensor",
    ),
    (
        "match logits without 'no object'",
        lambda: match_queries(**targets(logits=LOGITS[..., :1])),
        r"logits must be \(B, Q, C \+ 1\), at least one class and 'no object'",
    ),
    (
        "match true boxes of another dtype",
        lambda: match_queries(**targets(true_boxes=TRUE.double())),
        r"logits, boxes and true_boxes must share a dtype: torch.float32, "
        r"torch.float32, torch.float64",
    ),
    (
        "match two weights",
        lambda: match_queries(**targets(), weights=(1.0, 5.0)),
        r"weights must be three finite numbers >= 0 \(class, L1, GIoU\), got "
        r"\(1.0, 5.0\)",
    ),
    (
        "match negative weight",
        lambda: match_queries(**targets(), weights=(1.0, -5.0, 2.0)),
        r"weights must be three finite numbers >= 0",
    ),
    (
        "loss weight",
        lambda: detection_loss(**targets(), no_object_weight=-1.0),
        r"no_object_weight must be a finite number",
    ),
    (
        "loss image_size 0",
        lambda: detection_loss(**targets(image_size=0)),
        r"image_size must be a finite number in \(0, inf\]",
    ),
    # ---- scores of a detector ----
    (
        "precision_recall threshold",
        lambda: precision_recall(LOGITS, BOXES, LABELS, TRUE, PRESENT, threshold=1.5),
        r"threshold must be a finite number in \[0, 1\], got 1.5",
    ),
    (
        "precision_recall iou_threshold 0",
        lambda: precision_recall(LOGITS, BOXES, LABELS, TRUE, PRESENT, None, 0.0),
        r"iou_threshold must be a finite number in \(0, 1\]",
    ),
    (
        "precision_recall labels",
        lambda: precision_recall(LOGITS, BOXES, LABELS + 5, TRUE, PRESENT),
        r"labels of present objects must be class ids",
    ),
    (
        "count_duplicates matched",
        lambda: count_duplicates(LOGITS, BOXES, TRUE, PRESENT, MATCHED[:1]),
        r"matched must be match_queries' list",
    ),
    (
        "count_duplicates matched lengths",
        lambda: count_duplicates(
            LOGITS, BOXES, TRUE, PRESENT, [torch.tensor([0]), torch.tensor([2])]
        ),
        r"one query per present object",
    ),
    (
        "count_duplicates present",
        lambda: count_duplicates(LOGITS, BOXES, TRUE, PRESENT[0], MATCHED),
        r"present must be a bool \(B, M\) tensor",
    ),
    # ---- scenes ----
    ("split", lambda: TASK.examples("dev", 3), r"split must be one of"),
    (
        "split a list",
        lambda: TASK.examples(["test"], 3),
        r"split must be one of \['test', 'train', 'val'\], got \['test'\]",
    ),
    ("n 0", lambda: TASK.examples("train", 0), r"n must be a positive int"),
    (
        "seed negative",
        lambda: TASK.examples("train", 2, seed=-1),
        r"seed must be an int >= 0, got -1",
    ),
    (
        "objects",
        lambda: SceneTask(min_objects=3, max_objects=2),
        r"at most max_objects",
    ),
    (
        "more objects than the canvas holds",
        lambda: SceneTask(max_objects=10),
        r"max_objects=10 is more than a 48-pixel canvas of 8-pixel cells holds apart "
        r"and tellable \(9",
    ),
    ("side", lambda: SceneTask(max_side=20), r"max_side <= 2 \* cell"),
    ("cell", lambda: SceneTask(size=50), r"multiple of cell"),
    ("margin", lambda: SceneTask(margin=-1), r"margin must be an int >= 0, got -1"),
    (
        "settings with no layout",
        lambda: SceneTask(margin=40).examples("test", 2),
        r"no test scene in 20000 draws: these settings \(max_objects=2, margin=40, "
        r"size=48\) leave \(almost\) no layout",
    ),
    ("encode empty", lambda: TASK.encode([]), r"at least one scene"),
    ("targets empty", lambda: TASK.targets([]), r"at least one scene"),
    (
        "encode captions",
        lambda: TASK.encode(["a red circle"]),
        r"examples must be a list of SceneExample, got a str",
    ),
    (
        "encode scenes of another task",
        lambda: SceneTask(size=32).encode(SCENES),
        r"examples must be scenes of this task, \(3, 32, 32\) images, got an image "
        r"\(3, 48, 48\)",
    ),
    (
        "encode to no device",
        lambda: TASK.encode(SCENES, device="gpu9"),
        r"device must be None, a torch.device or a name such as 'cpu', got 'gpu9'",
    ),
    (
        "encode to an int dtype",
        lambda: TASK.encode(SCENES, dtype=torch.long),
        r"dtype must be a floating-point dtype",
    ),
    (
        "targets to an int dtype",
        lambda: TASK.targets(SCENES, dtype=torch.int32),
        r"dtype must be a floating-point dtype",
    ),
    (
        "layout of a caption",
        lambda: TASK.layout("a red circle"),
        r"example must be a SceneExample, got str",
    ),
    # ---- grounding and BLEU ----
    ("centres", lambda: patch_centres(48, 7), r"divisible by patch"),
    (
        "patches_in_box of three numbers",
        lambda: patches_in_box((0, 0, 8), 48, 8),
        r"box must be four numbers \(x0, y0, x1, y1\), got \(0, 0, 8\)",
    ),
    (
        "word_boxes of no scene",
        lambda: word_boxes([], 3, 8),
        r"examples must hold at least one scene",
    ),
    (
        "word_boxes lq 0",
        lambda: word_boxes(SCENES, 0, 8),
        r"lq must be a positive int, got 0",
    ),
    (
        "grounding dims",
        lambda: grounding_accuracy(torch.ones(2, 36), SCENES, 8),
        r"weights must be \(B, Lq, N\)",
    ),
    (
        "grounding int weights",
        lambda: grounding_accuracy(torch.ones(2, 9, 36, dtype=torch.long), SCENES, 8),
        r"weights must be a floating-point tensor",
    ),
    (
        "grounding patches",
        lambda: grounding_accuracy(torch.ones(2, 9, 16), SCENES, 8),
        r"one column per patch: 36 patches",
    ),
    (
        "grounding batch",
        lambda: grounding_accuracy(torch.ones(3, 9, 36), SCENES, 8),
        r"one row block per example",
    ),
    (
        "grounding of no scene",
        lambda: grounding_accuracy(torch.ones(0, 9, 36), [], 8),
        r"examples must hold at least one scene, got none",
    ),
    (
        "grounding patch 7",
        lambda: grounding_accuracy(torch.ones(2, 9, 36), SCENES, 7),
        r"size=48 must be divisible by patch=7",
    ),
    (
        "grounding_chance of a caption",
        lambda: grounding_chance("a red circle", 8),
        r"examples must be a list of SceneExample, got str",
    ),
    ("bleu lengths", lambda: bleu([["a"]], []), r"same length"),
    ("bleu strings", lambda: bleu(["a b"], ["a b"]), r"lists of words"),
    (
        "bleu max_n",
        lambda: bleu([["a"]], [["a"]], max_n=0),
        r"max_n must be a positive",
    ),
    (
        "bleu of a string corpus",
        lambda: bleu("a b", "a b"),
        r"candidates must be a list of word lists, got str",
    ),
    (
        "bleu of numbers",
        lambda: bleu([1], [["a"]]),
        r"candidates must be a list of words, not int",
    ),
    (
        "ngram_counts of a string",
        lambda: ngram_counts("a red circle", 2),
        r"words must be a list of words, not str: split a string first",
    ),
    ("ngram_counts n 0", lambda: ngram_counts(["a"], 0), r"n must be a positive int"),
]


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_call_raises_a_value_error_that_says_what_is_wrong(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_the_table_is_large_and_has_no_repeats():
    assert len({c[0] for c in CASES}) == len(CASES) >= 100
