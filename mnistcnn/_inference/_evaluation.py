"""Measuring a model on labelled digits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from paddle import nn

from .._data._mnist import MnistDataset
from ._classifier import DigitClassifier

__all__ = ["EvalReport", "evaluate"]


@dataclass(frozen=True, eq=False)
class EvalReport:
    """How a model did on a labelled set.

    Attributes:
        accuracy: fraction of images classified correctly.
        loss: mean cross-entropy (negative log-probability of the true label).
        confusion_matrix: int64 array of shape (10, 10); row = true digit, column = predicted.
        precision: float64 array of shape (10,): of the images predicted as each digit, the
            fraction that were that digit (``nan`` if none was predicted).
        recall: float64 array of shape (10,): of the images of each digit, the fraction found.
        n_samples: number of images evaluated.
    """

    accuracy: float
    loss: float
    confusion_matrix: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    n_samples: int

    def __str__(self) -> str:
        lines = [
            f"accuracy {self.accuracy:.4f}  loss {self.loss:.4f}  ({self.n_samples:,} images)",
            "digit  precision  recall",
        ]
        for digit in range(len(self.recall)):
            lines.append(f"{digit:>5}  {self.precision[digit]:>9.4f}  {self.recall[digit]:>6.4f}")
        return "\n".join(lines)


def evaluate(
    model: DigitClassifier | nn.Layer,
    data: MnistDataset | tuple[np.ndarray, np.ndarray],
    *,
    batch_size: int = 256,
) -> EvalReport:
    """Evaluate a model on labelled MNIST-style images.

    Args:
        model: a :class:`DigitClassifier`, or a network (wrapped in one).
        data: a dataset from :func:`load_data`, or ``(images, labels)`` arrays of shapes
            (n, 28, 28) and (n,).
        batch_size: images per network call.

    Returns:
        An :class:`EvalReport`.

    Examples:
        >>> from mnistcnn import DigitClassifier, evaluate, load_data
        >>> report = evaluate(DigitClassifier.pretrained(), load_data("test"))
        >>> int(report.confusion_matrix.sum()), round(report.accuracy, 3)
        (10000, 0.997)
    """
    classifier = model if isinstance(model, DigitClassifier) else DigitClassifier(model)
    images, labels = as_arrays(data)
    probabilities = classifier.predict_proba(images, batch_size=batch_size)
    return report_from_probabilities(probabilities, labels)


def as_arrays(data: MnistDataset | tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` from a dataset or a pair of arrays, checked."""
    if isinstance(data, MnistDataset):
        return data.images, data.labels
    if isinstance(data, tuple) and len(data) == 2:
        dataset = MnistDataset(np.asarray(data[0]), np.asarray(data[1]))
        return dataset.images, dataset.labels
    raise TypeError(
        f"data must be a dataset from load_data() or an (images, labels) tuple; "
        f"got {type(data).__name__}."
    )


def report_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> EvalReport:
    labels = labels.astype(np.int64)
    n_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    confusion = np.bincount(
        labels * n_classes + predicted, minlength=n_classes * n_classes
    ).reshape(n_classes, n_classes)
    true_positive = np.diag(confusion).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = true_positive / confusion.sum(axis=0)
        recall = true_positive / confusion.sum(axis=1)
    picked = probabilities[np.arange(len(labels)), labels].astype(np.float64)
    loss = float(-np.log(np.clip(picked, 1e-12, None)).mean()) if len(labels) else float("nan")
    return EvalReport(
        accuracy=float(true_positive.sum() / max(len(labels), 1)),
        loss=loss,
        confusion_matrix=confusion.astype(np.int64),
        precision=precision,
        recall=recall,
        n_samples=len(labels),
    )
