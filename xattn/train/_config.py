"""A run's settings, its record, and the learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from xattn.checks import check_bool, check_int, check_number, check_positive_int


@dataclass(frozen=True)
class TrainConfig:
    """How to train, checked when made; the defaults train chapter 8's CPU model."""

    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3  # peak learning rate, reached at the end of warm-up
    warmup_steps: int = (
        100  # linear warm-up avoids early divergence (Goyal et al. 2017)
    )
    min_lr_ratio: float = 0.05  # the cosine decays to this fraction of lr
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)  # as in Vaswani et al. 2017
    grad_clip: float = (
        1.0  # clip the global gradient norm (Pascanu et al. 2013); 0 turns it off
    )
    label_smoothing: float = 0.0
    eval_every: int = 250  # steps between validation runs; 0: only at the end
    eval_examples: int = 500
    stop_at_exact_match: float | None = (
        None  # stop once validation exact match reaches this
    )
    seed: int = 0
    amp: bool = True  # bf16 autocast where the device supports it
    checkpoint_every: int = 0  # steps between checkpoints; 0: only at the end

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            check_positive_int(name, getattr(self, name))
        for name in (
            "warmup_steps",
            "eval_every",
            "checkpoint_every",
            "eval_examples",
            "seed",
        ):
            check_int(name, getattr(self, name))
        check_number("lr", self.lr, 0.0, 1.0, low_open=True, high_open=True)
        check_number("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        check_number("weight_decay", self.weight_decay, 0.0)
        check_number("grad_clip", self.grad_clip, 0.0)
        check_number("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {self.betas!r}")
        for i, beta in enumerate(self.betas):
            check_number(f"betas[{i}]", beta, 0.0, 1.0, high_open=True)
        if self.stop_at_exact_match is not None:
            check_number(
                "stop_at_exact_match", self.stop_at_exact_match, 0.0, 1.0, low_open=True
            )
        check_bool("amp", self.amp)


@dataclass
class History:
    """What a run records: per step, and per validation."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    # step, val_loss, token_accuracy, exact_match, seconds
    evals: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(**d)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """The learning rate at ``step`` as a share of ``cfg.lr``: warm-up, cosine decay."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = min(
        1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    )
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (
        1 + math.cos(math.pi * progress)
    )
