"""The training commands' options (`cnn_core.train`), apart from the training code: reading
them, for `--help` or a usage error, needs neither Keras nor TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (article III: SGD, momentum, L2, a schedule)."""

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.9
    l2: float = 1e-4
    schedule: str = "cosine"  # "cosine", "step" (halve every `step_epochs`) or "constant"
    step_epochs: int = 5
    seed: int = 42

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "step", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}; use cosine, step or constant")
        if self.epochs < 1 or self.batch_size < 1 or self.step_epochs < 1:
            raise ValueError("epochs, batch_size and step_epochs must be >= 1")
        if not (self.learning_rate > 0 and 0 <= self.momentum < 1 and self.l2 >= 0):
            raise ValueError("need learning_rate > 0, 0 <= momentum < 1, l2 >= 0")


@dataclass(frozen=True)
class ShapesTrainConfig:
    """Hyper-parameters of the colour example's training (Adam, cosine decay to 0)."""

    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 3e-3
    seed: int = 42

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not self.learning_rate > 0:
            raise ValueError("need learning_rate > 0")
