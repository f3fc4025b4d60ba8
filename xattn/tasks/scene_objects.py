"""What a scene is made of: shapes, colours, objects with boxes, captions' words.

A :class:`SceneObject` is one shape of one colour with its true box; a
:class:`SceneExample` is an image, its caption and its objects in the caption's
order, with the object each caption word names; :class:`WordVocab` turns captions
into word ids. :class:`xattn.tasks.scenes.SceneTask` generates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xattn.data import CharVocab

__all__ = ["SHAPES", "COLOURS", "SceneObject", "SceneExample", "WordVocab"]

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
