"""Scenes: coloured shapes on a small canvas, with captions and the true boxes.

Every scene is a pure function of a seed: a few shapes (circle, square, triangle), each
in one of four colours, placed without overlap on a dark canvas. Each object fills
most of a 2 x 2 block of an 8-pixel grid (``cell``), jittered within it, so that an
8 x 8 patch holds part of at most one object: a patch-sized view of a shape that a
tiny model learns within a minute. The caption names
them in *reading order*, the object nearer the top-left corner (smaller ``x + y`` of
its centre) first, and says how each one lies relative to the next::

    a red circle left of a blue square
    a green triangle above a yellow circle

Because the next object is further along ``x + y``, it lies either mostly to the right
(``left of``) or mostly below (``above``); scenes where the two directions are close
are not drawn, so every caption has one right answer. Each object keeps its class,
colour and true box ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive), so a chapter
can score where a model looks (:func:`grounding_accuracy`) and what it detects.

Splits are by layout (the objects' shapes, colours, positions and sizes): a hash of
the layout puts it in train, validation or test, so no layout of the test set ever
appears in training. :func:`bleu` scores generated captions against the truth.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xattn.checks import check_int, check_positive_int, fmt_shape
from xattn.data import CharVocab

__all__ = [
    "SHAPES",
    "COLOURS",
    "SceneObject",
    "SceneExample",
    "WordVocab",
    "SceneTask",
    "patch_centres",
    "grounding_accuracy",
    "grounding_chance",
    "bleu",
]

#: The shapes a scene draws, in the order of their class ids.
SHAPES = ("circle", "square", "triangle")
#: RGB in [0, 1]: bright on the dark background, and far apart from each other.
COLOURS = {
    "red": (0.95, 0.15, 0.15),
    "green": (0.15, 0.8, 0.2),
    "blue": (0.2, 0.35, 1.0),
    "yellow": (1.0, 0.9, 0.1),
}
BACKGROUND = 0.1  # dark grey, so that no colour channel is exactly zero everywhere
RELATIONS = ("left of", "above")
SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}  # share of all layouts


@dataclass(frozen=True)
class SceneObject:
    """One shape in a scene: its class, colour and true box in pixels.

    ``box`` is ``(x0, y0, x1, y1)``, x to the right and y down, x1 and y1 exclusive:
    the object covers pixel columns ``x0 .. x1 - 1``.
    """

    shape: str
    colour: str
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    @property
    def label(self) -> int:
        """The class id for detection: the index of the shape in ``SHAPES``."""
        return SHAPES.index(self.shape)


@dataclass(frozen=True)
class SceneExample:
    """A scene: its image, its caption, its objects in the caption's order.

    Shapes:
        image (3, H, W), float in [0, 1]
    """

    image: torch.Tensor
    caption: str
    objects: tuple[SceneObject, ...]

    @property
    def words(self) -> list[str]:
        return self.caption.split()

    @property
    def word_objects(self) -> list[int]:
        """For each caption word, the index of the object it names, or -1.

        Colour and shape words name an object; ``a``, ``left``, ``of``, ``above`` do
        not. A list as long as ``words``.
        """
        out, k = [], 0
        for word in self.words:
            if word in COLOURS:
                out.append(k)
            elif word in SHAPES:
                out.append(k)
                k += 1
            else:
                out.append(-1)
        return out


class WordVocab(CharVocab):
    """Words to ids and back: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3.

    The character vocabulary of the date task, over words: ``encode`` takes a caption
    and splits it at spaces, ``decode`` joins the words with spaces.
    """

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        return super().encode(text.split(), bos=bos, eos=eos)

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to a caption, stopping at ``<eos>``, skipping ``<pad>`` and ``<bos>``."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                words.append(self.itos[i] if 0 <= i < len(self.itos) else "<unk>")
        return " ".join(words)


def _layout_split(layout: tuple) -> str:
    """The split a layout belongs to, fixed by a hash of the layout alone."""
    u = zlib.crc32(repr(layout).encode()) / 2**32  # uniform in [0, 1)
    edge = 0.0
    for name, share in SPLITS.items():
        edge += share
        if u < edge:
            return name
    return "train"


class SceneTask:
    """Generated scenes with captions and boxes, in splits that share no layout.

    Args:
        size: the canvas is ``size`` x ``size`` pixels.
        min_objects, max_objects: how many shapes a scene holds (each count equally
            likely).
        cell: objects sit on a grid of ``cell``-pixel squares, each inside its own
            2 x 2 block of squares (jittered within it); with patches of ``cell``
            pixels, a patch holds part of at most one object.
        min_side, max_side: the side of an object's box, in pixels (at most
            ``2 * cell``).
        margin: the least difference, in pixels, between ``|dx|`` and ``|dy|`` of
            two objects named one after the other, so that ``left of`` and
            ``above`` are never a close call.

    Shapes:
        ``encode`` -> images (B, 3, H, W), tgt_in (B, Lq), tgt_out (B, Lq)
    """

    def __init__(
        self,
        size: int = 48,
        min_objects: int = 2,
        max_objects: int = 2,
        cell: int = 8,
        min_side: int = 12,
        max_side: int = 16,
        margin: int = 4,
    ):
        for name, value in dict(
            size=size, min_objects=min_objects, max_objects=max_objects
        ).items():
            check_positive_int(name, value)
        check_positive_int("cell", cell)
        check_positive_int("min_side", min_side)
        check_positive_int("max_side", max_side)
        check_int("margin", margin)
        if size % cell or size // cell < 2:
            raise ValueError(
                f"size={size} must be a multiple of cell={cell}, at least two cells"
            )
        if min_objects > max_objects:
            raise ValueError(
                f"min_objects={min_objects} must be at most max_objects={max_objects}"
            )
        if min_side > max_side or max_side > 2 * cell:
            raise ValueError(
                f"need min_side <= max_side <= 2 * cell, got min_side={min_side}, "
                f"max_side={max_side}, cell={cell}"
            )
        self.size, self.cell, self.margin = size, cell, margin
        self.min_objects, self.max_objects = min_objects, max_objects
        self.min_side, self.max_side = min_side, max_side
        words = ["a", *COLOURS, *SHAPES, *(w for r in RELATIONS for w in r.split())]
        self.vocab = WordVocab(words)
        centres = torch.arange(size, dtype=torch.float32) + 0.5  # pixel centres
        self._ys, self._xs = torch.meshgrid(centres, centres, indexing="ij")  # (H, W)

    # ---- layouts ----

    def _draw_layout(self, rng: random.Random) -> tuple | None:
        """Objects (shape, colour, x0, y0, side) in reading order; None: rejected."""
        n = rng.randint(self.min_objects, self.max_objects)
        cells = self.size // self.cell - 1  # where a two-cell-wide object can start
        objects, taken = [], set()
        for _ in range(n):
            i, j = rng.randrange(cells), rng.randrange(cells)  # column, row
            square = {(i + a, j + b) for a in (0, 1) for b in (0, 1)}
            if square & taken:
                return None  # overlapping objects
            taken |= square
            side = rng.randint(self.min_side, self.max_side)
            x0 = i * self.cell + rng.randint(0, 2 * self.cell - side)
            y0 = j * self.cell + rng.randint(0, 2 * self.cell - side)
            objects.append(
                (rng.choice(SHAPES), rng.choice(list(COLOURS)), x0, y0, side)
            )
        if len({(s, c) for s, c, *_ in objects}) < n:
            return None  # two objects a caption could not tell apart
        objects.sort(key=lambda o: (2 * o[2] + o[4]) + (2 * o[3] + o[4]))  # x + y
        for a, b in zip(objects, objects[1:]):
            dx = (2 * b[2] + b[4] - 2 * a[2] - a[4]) / 2  # centre to centre
            dy = (2 * b[3] + b[4] - 2 * a[3] - a[4]) / 2
            if abs(abs(dx) - abs(dy)) < self.margin:
                return None  # neither "left of" nor "above" clearly
        return tuple(objects)

    def _render(self, layout: tuple) -> SceneExample:
        image = torch.full((3, self.size, self.size), BACKGROUND)
        objects, words = [], []
        for i, (shape, colour, x0, y0, side) in enumerate(layout):
            x1, y1 = x0 + side, y0 + side
            xs, ys = self._xs, self._ys
            inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)  # (H, W)
            if shape == "circle":
                r = side / 2
                inside &= (xs - x0 - r) ** 2 + (ys - y0 - r) ** 2 <= r * r
            elif shape == "triangle":  # apex at the top middle, base at the bottom
                inside &= (xs - x0 - side / 2).abs() <= (ys - y0) / 2
            image[:, inside] = torch.tensor(COLOURS[colour])[:, None]
            objects.append(SceneObject(shape, colour, (x0, y0, x1, y1)))
            words += ["a", colour, shape]
            if i + 1 < len(layout):
                _, _, nx0, ny0, nside = layout[i + 1]
                dx = (nx0 + nside / 2) - (x0 + side / 2)  # centre to centre
                dy = (ny0 + nside / 2) - (y0 + side / 2)
                words += RELATIONS[0 if abs(dx) > abs(dy) else 1].split()
        return SceneExample(image, " ".join(words), tuple(objects))

    def examples(self, split: str, n: int, seed: int = 0) -> list[SceneExample]:
        """``n`` scenes from a split, a pure function of ``(split, n, seed)``.

        Layouts are drawn at random and kept when their hash puts them in ``split``.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        check_positive_int("n", n)
        check_int("seed", seed)
        rng = random.Random(f"scenes-{split}-{seed}")
        out = []
        while len(out) < n:
            layout = self._draw_layout(rng)
            if layout is not None and _layout_split(layout) == split:
                out.append(self._render(layout))
        return out

    @staticmethod
    def layout(example: SceneExample) -> tuple:
        """The key that decides a scene's split: its objects' shapes, colours, boxes."""
        return tuple(
            (o.shape, o.colour, o.box[0], o.box[1], o.box[2] - o.box[0])
            for o in example.objects
        )

    # ---- batches ----

    def encode(
        self, examples: Sequence[SceneExample], device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stack the images and pad the captions into id tensors.

        Returns:
            ``(images, tgt_in, tgt_out)``: the images (B, 3, H, W); the caption's
            word ids behind ``<bos>`` (B, Lq); and the caption followed by ``<eos>``
            (B, Lq), which the model learns to predict. Padding is ``<pad>`` (0).
        """
        if not examples:
            raise ValueError("examples must hold at least one scene, got none")
        images = torch.stack([e.image for e in examples])  # (B, 3, H, W)
        ids = [self.vocab.encode(e.caption) for e in examples]
        lq = max(map(len, ids)) + 1
        pad, bos, eos = self.vocab.pad_id, self.vocab.bos_id, self.vocab.eos_id
        tgt_in = torch.tensor([[bos, *t] + [pad] * (lq - 1 - len(t)) for t in ids])
        tgt_out = torch.tensor([[*t, eos] + [pad] * (lq - 1 - len(t)) for t in ids])
        return images.to(device), tgt_in.to(device), tgt_out.to(device)

    def targets(
        self, examples: Sequence[SceneExample], device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The objects of each scene as padded tensors, for detection.

        Returns:
            ``(labels, boxes, present)``: class ids (B, M) (``SHAPES`` index, 0 where
            absent); boxes (x0, y0, x1, y1) in pixels (B, M, 4); and True where an
            object is present (B, M), for M = the most objects in a scene here.
        """
        if not examples:
            raise ValueError("examples must hold at least one scene, got none")
        m = max(len(e.objects) for e in examples)
        labels = torch.zeros(len(examples), m, dtype=torch.long)
        boxes = torch.zeros(len(examples), m, 4)
        present = torch.zeros(len(examples), m, dtype=torch.bool)
        for i, e in enumerate(examples):
            for j, o in enumerate(e.objects):
                labels[i, j], boxes[i, j], present[i, j] = (
                    o.label,
                    torch.tensor(o.box),
                    True,
                )
        return labels.to(device), boxes.to(device), present.to(device)


# ---- checks ----


def patch_centres(size: int, patch: int) -> torch.Tensor:
    """The pixel centre (x, y) of every patch, in the row-major order of patchify.

    Shapes:
        -> (N, 2) with N = (size // patch) ** 2
    """
    check_positive_int("size", size)
    check_positive_int("patch", patch)
    if size % patch:
        raise ValueError(f"size={size} must be divisible by patch={patch}")
    c = torch.arange(size // patch, dtype=torch.float32) * patch + patch / 2
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=-1)  # (N, 2)


def _inside(examples: Sequence[SceneExample], lq: int, centres: torch.Tensor):
    """(B, Lq, N) True where patch n's centre lies in the box word t names; (B, Lq)."""
    inside = torch.zeros(len(examples), lq, len(centres), dtype=torch.bool)
    named = torch.zeros(len(examples), lq, dtype=torch.bool)
    x, y = centres[:, 0], centres[:, 1]
    for b, e in enumerate(examples):
        for t, k in enumerate(e.word_objects[:lq]):
            if k >= 0:
                x0, y0, x1, y1 = e.objects[k].box
                inside[b, t] = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
                named[b, t] = True
    return inside, named


def grounding_accuracy(
    weights: torch.Tensor, examples: Sequence[SceneExample], patch: int
) -> torch.Tensor:
    """How often the most-weighted patch lies in the box of the object a word names.

    Row t of ``weights`` is the attention while predicting caption word t (teacher
    forcing: the rows of ``tgt_out``). Only colour and shape words count; a patch
    lies in a box when its centre does.

    Shapes:
        weights (B, Lq, N) over the N patches of ``patch`` x ``patch`` pixels
        -> a scalar tensor in [0, 1]
    """
    if not isinstance(weights, torch.Tensor) or weights.dim() != 3:
        got = fmt_shape(weights) if isinstance(weights, torch.Tensor) else weights
        raise ValueError(f"weights must be (B, Lq, N), got weights {got}")
    if len(examples) != weights.shape[0]:
        raise ValueError(
            f"weights {fmt_shape(weights)} must have one row block per example, got "
            f"{len(examples)} examples"
        )
    size = examples[0].image.shape[-1]
    centres = patch_centres(size, patch)
    if weights.shape[-1] != len(centres):
        raise ValueError(
            f"weights {fmt_shape(weights)} must have one column per patch: "
            f"{len(centres)} patches of {patch}x{patch} in a {size}x{size} image"
        )
    inside, named = _inside(examples, weights.shape[1], centres)
    best = weights.detach().argmax(-1).cpu()  # (B, Lq)
    hit = inside.gather(-1, best[..., None])[..., 0]  # (B, Lq)
    return hit[named].float().mean()


def grounding_chance(examples: Sequence[SceneExample], patch: int) -> float:
    """The grounding accuracy of a patch picked uniformly at random for every word."""
    if not examples:
        raise ValueError("examples must hold at least one scene, got none")
    centres = patch_centres(examples[0].image.shape[-1], patch)
    lq = max(len(e.words) for e in examples)
    inside, named = _inside(examples, lq, centres)
    return inside.float().mean(-1)[named].mean().item()


def _ngrams(words: Sequence[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def bleu(
    candidates: Sequence[Sequence[str]],
    references: Sequence[Sequence[str]],
    max_n: int = 4,
) -> float:
    """Corpus BLEU of Papineni et al. (2002), one reference per candidate.

    The geometric mean of the clipped n-gram precisions for n = 1 .. max_n, summed
    over the corpus, times the brevity penalty ``min(1, exp(1 - r / c))`` for
    candidate length c and reference length r. No smoothing: a corpus with no
    matching n-gram of some order scores 0.

    Shapes:
        candidates, references: B lists of words each -> a float in [0, 1]
    """
    check_positive_int("max_n", max_n)
    if len(candidates) != len(references) or not candidates:
        raise ValueError(
            "candidates and references must be non-empty lists of the same length, "
            f"got {len(candidates)} and {len(references)}"
        )
    for name, seqs in (("candidates", candidates), ("references", references)):
        if any(isinstance(s, str) for s in seqs):
            raise ValueError(
                f"{name} must be lists of words, not strings: split them first"
            )
    matched, total = [0] * max_n, [0] * max_n
    c_len = sum(len(c) for c in candidates)
    r_len = sum(len(r) for r in references)
    for cand, ref in zip(candidates, references):
        for n in range(1, max_n + 1):
            counts, ref_counts = _ngrams(cand, n), _ngrams(ref, n)
            matched[n - 1] += sum(min(k, ref_counts[g]) for g, k in counts.items())
            total[n - 1] += max(len(cand) - n + 1, 0)
    if c_len == 0 or min(matched) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    brevity = min(0.0, 1 - r_len / c_len)
    return math.exp(log_p + brevity)
