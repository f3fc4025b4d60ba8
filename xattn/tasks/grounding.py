"""Grounding: does a caption word's attention fall on the object the word names?

A scene's objects keep their true boxes (:mod:`xattn.tasks.scenes`), and a word that
names an object (its colour or its shape) has a box to look at. A patch lies in a box
when its centre does; :func:`grounding_accuracy` counts how often the patch a word
attends to most lies in its object's box, and :func:`grounding_chance` what a patch
picked at random scores.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from xattn.checks import check_floating, check_positive_int, checked, fmt_shape

if TYPE_CHECKING:
    from xattn.tasks.scenes import SceneExample

__all__ = [
    "patch_centres",
    "patches_in_box",
    "word_boxes",
    "grounding_accuracy",
    "grounding_chance",
]


def _check_patch_centres(size, patch) -> None:
    check_positive_int("size", size)
    check_positive_int("patch", patch)
    if size % patch:
        raise ValueError(f"size={size} must be divisible by patch={patch}")


@checked(_check_patch_centres)
def patch_centres(size: int, patch: int) -> torch.Tensor:
    """The pixel centre (x, y) of every patch, in the row-major order of patchify.

    Shapes:
        -> (N, 2) with N = (size // patch) ** 2
    """
    c = torch.arange(size // patch, dtype=torch.float32) * patch + patch / 2
    ys, xs = torch.meshgrid(c, c, indexing="ij")  # (R, R) each
    return torch.stack([xs.flatten(), ys.flatten()], dim=-1)  # (N, 2)


def _check_box(box) -> None:
    if isinstance(box, torch.Tensor):
        ok = box.shape == (4,) and box.dtype != torch.bool
    else:
        ok = (
            isinstance(box, (tuple, list))
            and len(box) == 4
            and all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in box
            )
        )
    if not ok:
        raise ValueError(f"box must be four numbers (x0, y0, x1, y1), got {box!r}")


def _check_patches_in_box(box, size, patch) -> None:
    _check_box(box)
    _check_patch_centres(size, patch)


@checked(_check_patches_in_box)
def patches_in_box(box: Sequence[float], size: int, patch: int) -> torch.Tensor:
    """Which patches of a ``size`` x ``size`` image have their centre in ``box``.

    Shapes:
        box (x0, y0, x1, y1) in pixels -> (N,) bool, N = (size // patch) ** 2
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    x, y = patch_centres(size, patch).unbind(-1)  # (N,) each
    return (x >= x0) & (x < x1) & (y >= y0) & (y < y1)


def _check_examples(examples) -> None:
    from xattn.tasks.scenes import SceneExample

    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
        raise ValueError(
            f"examples must be a list of SceneExample, got {type(examples).__name__}"
        )
    if not examples:
        raise ValueError("examples must hold at least one scene, got none")
    bad = next((e for e in examples if not isinstance(e, SceneExample)), None)
    if bad is not None:
        raise ValueError(
            f"examples must be a list of SceneExample, got a {type(bad).__name__}"
        )
    sizes = {tuple(e.image.shape[-2:]) for e in examples}
    if len(sizes) != 1 or len({*next(iter(sizes))}) != 1:
        raise ValueError(
            f"examples must be square scenes of one size, got sizes {sorted(sizes)}"
        )


def _check_word_boxes(examples, lq, patch) -> None:
    _check_examples(examples)
    check_positive_int("lq", lq)
    _check_patch_centres(examples[0].image.shape[-1], patch)


@checked(_check_word_boxes)
def word_boxes(
    examples: Sequence[SceneExample], lq: int, patch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each caption word, the patches inside the box of the object it names.

    Returns:
        ``(inside, named)``: inside[b, t, n] is True when patch n's centre lies in
        the box that word t of caption b names; named[b, t] is True when word t
        names an object at all (a colour or a shape word; captions are cut or
        padded to ``lq`` words).

    Shapes:
        -> inside (B, lq, N), named (B, lq), bool
    """
    size = examples[0].image.shape[-1]
    n = (size // patch) ** 2
    inside = torch.zeros(len(examples), lq, n, dtype=torch.bool)
    named = torch.zeros(len(examples), lq, dtype=torch.bool)
    for b, e in enumerate(examples):
        for t, k in enumerate(e.word_objects[:lq]):
            if k >= 0:
                inside[b, t] = patches_in_box(e.objects[k].box, size, patch)
                named[b, t] = True
    return inside, named


def _check_grounding_accuracy(weights, examples, patch) -> None:
    check_floating("weights", weights)
    if weights.dim() != 3:
        raise ValueError(
            f"weights must be (B, Lq, N), got weights {fmt_shape(weights)}"
        )
    _check_examples(examples)
    if len(examples) != weights.shape[0]:
        raise ValueError(
            f"weights {fmt_shape(weights)} must have one row block per example, got "
            f"{len(examples)} examples"
        )
    size = examples[0].image.shape[-1]
    _check_patch_centres(size, patch)
    n = (size // patch) ** 2
    if weights.shape[-1] != n:
        raise ValueError(
            f"weights {fmt_shape(weights)} must have one column per patch: "
            f"{n} patches of {patch}x{patch} in a {size}x{size} image"
        )
    if weights.shape[1] == 0:
        raise ValueError(f"weights {fmt_shape(weights)} has no caption steps (Lq = 0)")


@checked(_check_grounding_accuracy)
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
    inside, named = word_boxes(examples, weights.shape[1], patch)  # (B, Lq, N)
    best = weights.detach().argmax(-1).cpu()  # (B, Lq): the most-attended patch
    hit = inside.gather(-1, best[..., None])[..., 0]  # (B, Lq)
    return hit[named].float().mean()


def _check_grounding_chance(examples, patch) -> None:
    _check_examples(examples)
    _check_patch_centres(examples[0].image.shape[-1], patch)


@checked(_check_grounding_chance)
def grounding_chance(examples: Sequence[SceneExample], patch: int) -> float:
    """The grounding accuracy of a patch picked uniformly at random for every word."""
    lq = max(len(e.words) for e in examples)
    inside, named = word_boxes(examples, lq, patch)  # (B, Lq, N), (B, Lq)
    return inside.float().mean(-1)[named].mean().item()
