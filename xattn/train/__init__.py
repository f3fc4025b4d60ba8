"""One training loop for the notebook and the command line.

    python -m xattn.train --preset cpu        # the chapter 8 model, on this machine
    python -m xattn.train --preset gpu --checkpoint runs/date.pt
    torchrun --nproc_per_node=4 -m xattn.train --preset gpu   # one process per GPU

AdamW with linear warm-up then cosine decay, gradient clipping, bf16 autocast
on CUDA, a tqdm progress bar, and checkpoints that resume a run to exactly the
losses it would have had without the interruption: every batch is a pure
function of (seed, step, rank), and the checkpoint holds the model, optimizer,
scheduler and random-number states.

The package's modules, each one concept, imports pointing down: ``_config``
(the settings, the record of a run, the schedule), ``_checkpoints`` (saving and
resuming), ``_loop`` (the loop and its validation) and ``_cli`` (the presets
and the command line).
"""

from xattn.train import _cli
from xattn.train._checkpoints import (
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from xattn.train._cli import main
from xattn.train._config import History, TrainConfig, lr_factor
from xattn.train._loop import evaluate, train

#: name -> (Seq2SeqConfig settings, TrainConfig settings): a model size and a
#: training length for ``python -m xattn.train --preset``; chapter 8 explains them.
PRESETS = _cli.PRESETS

__all__ = [
    "TrainConfig",
    "History",
    "lr_factor",
    "evaluate",
    "train",
    "save_checkpoint",
    "load_checkpoint",
    "PRESETS",
    "main",
    "model_from_checkpoint",
]
