"""Training a network on in-memory digits.

The whole split is one uint8 array; each step slices a batch and converts it with the shared
:func:`~mnistcnn._preprocess.to_model_input`, so the input pipeline costs next to nothing beside
the network (Paddle's per-sample ``DataLoader`` path costs about 5 s per epoch).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

import numpy as np
import paddle
from paddle import nn

from ._classifier import DigitClassifier
from ._data import MnistDataset
from ._evaluation import as_arrays, evaluate
from ._models import ends_with_softmax
from ._preprocess import to_model_input
from ._progress import ProgressBar

__all__ = ["EpochResult", "History", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochResult:
    """One epoch of training.

    Attributes:
        epoch: 1-based epoch number.
        loss: mean training cross-entropy over the epoch.
        accuracy: training accuracy over the epoch (measured while the weights changed).
        val_accuracy: accuracy on the validation data after the epoch, if any was given.
        val_loss: validation cross-entropy after the epoch, if any.
        seconds: wall time of the epoch's training steps (validation excluded).
    """

    epoch: int
    loss: float
    accuracy: float
    val_accuracy: float | None
    val_loss: float | None
    seconds: float


@dataclass(frozen=True)
class History:
    """What :func:`train` did, epoch by epoch."""

    epochs: tuple[EpochResult, ...]

    @property
    def loss(self) -> list[float]:
        return [e.loss for e in self.epochs]

    @property
    def accuracy(self) -> list[float]:
        return [e.accuracy for e in self.epochs]

    @property
    def val_accuracy(self) -> list[float | None]:
        return [e.val_accuracy for e in self.epochs]

    @property
    def seconds(self) -> float:
        """Total training wall time."""
        return sum(e.seconds for e in self.epochs)


def train(
    model: nn.Layer,
    data: MnistDataset | tuple[np.ndarray, np.ndarray],
    *,
    val: MnistDataset | tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int = 5,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place with Adam and cross-entropy, as the Paddle tutorial does.

    Args:
        model: a network that outputs logits, e.g. from :func:`build_model`.
        data: a dataset from :func:`load_data`, or ``(images, labels)``: uint8 array of
            shape (n, 28, 28) and integer labels of shape (n,).
        val: data to measure accuracy on after each epoch.
        epochs: passes over ``data``.
        batch_size: images per step.
        learning_rate: Adam's learning rate.
        seed: makes the run reproducible (batch order and any randomness in the network).
            Build the model with the same ``seed`` for identical initial weights.
        progress: show a progress bar with the live loss and accuracy on stderr.

    Returns:
        A :class:`History` with one :class:`EpochResult` per epoch.

    Raises:
        ValueError: a non-positive ``epochs``, ``batch_size`` or ``learning_rate``, or a
            model that ends in ``Softmax`` (cross-entropy would apply softmax twice).
    """
    if epochs < 1 or batch_size < 1 or not learning_rate > 0:
        raise ValueError(
            f"epochs and batch_size must be at least 1 and learning_rate positive; got "
            f"epochs={epochs}, batch_size={batch_size}, learning_rate={learning_rate}."
        )
    if ends_with_softmax(model):
        raise ValueError(
            "the model ends in Softmax, but the loss applies softmax itself: training through "
            "both stalls (the tutorial's loss floors near 1.46). Drop the last layer, or use "
            "build_model('tutorial'), which outputs logits."
        )
    images, labels = as_arrays(data)
    if len(images) == 0:
        raise ValueError("data holds no images.")
    if seed is not None:
        paddle.seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = paddle.optimizer.Adam(learning_rate=learning_rate, parameters=model.parameters())
    results: list[EpochResult] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(images))
        loss_sum = 0.0
        correct = 0
        seen = 0
        start = time.perf_counter()
        with ProgressBar(len(images), desc=f"epoch {epoch}/{epochs}", enabled=progress) as bar:
            for first in range(0, len(images), batch_size):
                index = order[first : first + batch_size]
                x = paddle.to_tensor(to_model_input(images[index]))
                y = paddle.to_tensor(labels[index])
                logits = model(x)
                loss = nn.functional.cross_entropy(logits, y)
                loss.backward()
                optimizer.step()
                optimizer.clear_grad()
                n = len(index)
                loss_sum += float(loss) * n
                correct += int((logits.argmax(axis=1) == y).astype("int64").sum())
                seen += n
                bar.update(n, loss=loss_sum / seen, acc=correct / seen)
        seconds = time.perf_counter() - start
        val_accuracy = val_loss = None
        if val is not None:
            report = evaluate(DigitClassifier(model), val)
            val_accuracy, val_loss = report.accuracy, report.loss
        result = EpochResult(
            epoch, loss_sum / seen, correct / seen, val_accuracy, val_loss, seconds
        )
        logger.debug("%s", result)
        if progress and val_accuracy is not None:
            print(f"  val_accuracy {val_accuracy:.4f}  val_loss {val_loss:.4f}", file=sys.stderr)
        results.append(result)
    model.eval()
    return History(tuple(results))
