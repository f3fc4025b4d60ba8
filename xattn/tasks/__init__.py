"""Synthetic tasks beyond dates: generated scenes and speech.

Each task module is data, not attention: a deterministic generator, its vocabulary,
train/validation/test splits and the ground truth (object boxes, character time
spans) that lets a chapter score what its attention looks at. The date task lives in
:mod:`xattn.data`.
"""

__all__: list[str] = []  # the tasks live in its modules: xattn.tasks.scenes, .speech
