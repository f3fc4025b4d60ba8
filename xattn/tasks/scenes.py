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
can score where a model looks (:mod:`xattn.tasks.grounding`) and what it detects.

Splits are by layout (the objects' shapes, colours, positions and sizes): a hash of
the layout puts it in train, validation or test, so no layout of the test set ever
appears in training. :func:`xattn.bleu` scores generated captions against
the truth.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

import torch

from xattn.checks import check_int, check_positive_int, fmt_shape

# The scores live in their own modules; imported here too, where they used to be.
from xattn.tasks.bleu import bleu  # noqa: F401
from xattn.tasks.grounding import (  # noqa: F401
    grounding_accuracy,
    grounding_chance,
    patch_centres,
)
from xattn.tasks.scene_objects import (  # noqa: F401  (xattn.tasks.scenes.SHAPES, ...)
    BACKGROUND,
    COLOURS,
    RELATIONS,
    SHAPES,
    SceneExample,
    SceneObject,
    WordVocab,
)

__all__ = ["SceneTask"]

SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}  # share of all layouts
MAX_DRAWS = (
    20_000  # draws in a row without a scene for a split: the settings allow none
)


def _layout_split(layout: tuple) -> str:
    """The split a layout belongs to, fixed by a hash of the layout alone."""
    u = zlib.crc32(repr(layout).encode()) / 2**32  # uniform in [0, 1)
    edge = 0.0
    for name, share in SPLITS.items():
        edge += share
        if u < edge:
            return name
    return "train"


def _check_scene_task(
    size, min_objects, max_objects, cell, min_side, max_side, margin
) -> None:
    for name, value in dict(
        size=size,
        min_objects=min_objects,
        max_objects=max_objects,
        cell=cell,
        min_side=min_side,
        max_side=max_side,
    ).items():
        check_positive_int(name, value)
    check_int("margin", margin)
    if size % cell or size // cell < 2:
        raise ValueError(
            f"size={size} must be a multiple of cell={cell}, at least two cells"
        )
    if min_objects > max_objects:
        raise ValueError(
            f"min_objects={min_objects} must be at most max_objects={max_objects}"
        )
    room = min((size // cell // 2) ** 2, len(SHAPES) * len(COLOURS))
    if max_objects > room:
        raise ValueError(
            f"max_objects={max_objects} is more than a {size}-pixel canvas of "
            f"{cell}-pixel cells holds apart and tellable ({room}: one 2 x 2 block "
            f"of cells each, no two of the same shape and colour)"
        )
    if min_side > max_side or max_side > 2 * cell:
        raise ValueError(
            f"need min_side <= max_side <= 2 * cell, got min_side={min_side}, "
            f"max_side={max_side}, cell={cell}"
        )


def _check_scene_list(examples, size: int) -> None:
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
        raise ValueError(
            f"examples must be a list of SceneExample, got {type(examples).__name__}"
        )
    if not examples:
        raise ValueError("examples must hold at least one scene, got none")
    for e in examples:
        if not isinstance(e, SceneExample):
            raise ValueError(
                f"examples must be a list of SceneExample, got a {type(e).__name__}"
            )
        if tuple(e.image.shape) != (3, size, size):
            raise ValueError(
                f"examples must be scenes of this task, (3, {size}, {size}) images, "
                f"got an image {fmt_shape(e.image)}"
            )


def _device(device) -> torch.device | None:
    if device is None:
        return None
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(
            f"device must be None, a torch.device or a name such as 'cpu', got "
            f"{device!r}"
        ) from e


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
        _check_scene_task(
            size, min_objects, max_objects, cell, min_side, max_side, margin
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
        if not isinstance(split, str) or split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        check_positive_int("n", n)
        check_int("seed", seed)
        rng = random.Random(f"scenes-{split}-{seed}")
        out, misses = [], 0
        while len(out) < n:
            layout = self._draw_layout(rng)
            if layout is not None and _layout_split(layout) == split:
                out.append(self._render(layout))
                misses = 0
            elif (misses := misses + 1) >= MAX_DRAWS:
                raise ValueError(
                    f"no {split} scene in {MAX_DRAWS} draws: these settings "
                    f"(max_objects={self.max_objects}, margin={self.margin}, "
                    f"size={self.size}) leave (almost) no layout; ask for fewer "
                    "objects, a smaller margin or a larger canvas"
                )
        return out

    @staticmethod
    def layout(example: SceneExample) -> tuple:
        """The key that decides a scene's split: its objects' shapes, colours, boxes."""
        if not isinstance(example, SceneExample):
            raise ValueError(
                f"example must be a SceneExample, got {type(example).__name__}"
            )
        return tuple(
            (o.shape, o.colour, o.box[0], o.box[1], o.box[2] - o.box[0])
            for o in example.objects
        )

    @classmethod
    def split_of(cls, example: SceneExample) -> str:
        """The split a scene belongs to: ``"train"``, ``"val"`` or ``"test"``, fixed
        by its layout, so one layout is never in two splits."""
        return _layout_split(cls.layout(example))

    # ---- batches ----

    def encode(
        self,
        examples: Sequence[SceneExample],
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stack the images (of ``dtype``) and pad the captions into id tensors.

        Returns:
            ``(images, tgt_in, tgt_out)``: the images (B, 3, H, W); the caption's
            word ids behind ``<bos>`` (B, Lq); and the caption followed by ``<eos>``
            (B, Lq), which the model learns to predict. Padding is ``<pad>`` (0).
        """
        _check_scene_list(examples, self.size)
        device = _device(device)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype!r}")
        images = torch.stack([e.image for e in examples]).to(dtype)  # (B, 3, H, W)
        ids = [self.vocab.encode(e.caption) for e in examples]
        lq = max(map(len, ids)) + 1
        pad, bos, eos = self.vocab.pad_id, self.vocab.bos_id, self.vocab.eos_id
        tgt_in = torch.tensor([[bos, *t] + [pad] * (lq - 1 - len(t)) for t in ids])
        tgt_out = torch.tensor([[*t, eos] + [pad] * (lq - 1 - len(t)) for t in ids])
        return images.to(device), tgt_in.to(device), tgt_out.to(device)

    def targets(
        self,
        examples: Sequence[SceneExample],
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The objects of each scene as padded tensors, for detection.

        Returns:
            ``(labels, boxes, present)``: class ids (B, M) (``SHAPES`` index, 0 where
            absent); boxes (x0, y0, x1, y1) in pixels (B, M, 4), of ``dtype``; and
            True where an object is present (B, M), M = the most objects of a scene.
        """
        _check_scene_list(examples, self.size)
        device = _device(device)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype!r}")
        m = max(len(e.objects) for e in examples)
        labels = torch.zeros(len(examples), m, dtype=torch.long)
        boxes = torch.zeros(len(examples), m, 4)
        present = torch.zeros(len(examples), m, dtype=torch.bool)
        for i, e in enumerate(examples):
            for j, o in enumerate(e.objects):
                labels[i, j], boxes[i, j], present[i, j] = (
                    o.label,
                    torch.tensor(o.box),
                    1,
                )
        return labels.to(device), boxes.to(device, dtype), present.to(device)
