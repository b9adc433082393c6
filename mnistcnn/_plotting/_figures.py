"""Figures with matplotlib: sample digits, training curves, a confusion matrix, the model's view.

matplotlib is an optional extra (``pip install "mnistcnn[plot]"``): it is imported when a figure
is asked for, never by ``import mnistcnn``. Every function returns a
:class:`matplotlib.figure.Figure` built without pyplot, so nothing depends on a display or on
pyplot's global state: save it with ``figure.savefig("name.png")``; in a notebook, after
``%matplotlib inline``, a figure shows when it is the result of a cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._choices import Preprocess
from .._errors import MissingDependencyError
from .._input._inputs import PREPROCESS_CHOICES, PictureInput
from .._input._pictures import is_picture_source

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .._formats._history import History
    from .._inference._classifier import DigitClassifier
    from .._inference._evaluation import EvalReport

__all__ = ["plot_confusion_matrix", "plot_digits", "plot_history", "plot_model_view"]

_INK = "gray_r"  # dark ink on white, as the tutorial plots MNIST
_WRONG = "#c0392b"
_TRAIN, _VAL = "#1f77b4", "#ff7f0e"
_DISPLAY_SIZE = 512  # pictures are shown at most this many pixels on their longer side


def _figure(**options: Any) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            'plotting needs matplotlib, an optional extra: pip install "mnistcnn[plot]" '
            '(or pip install "matplotlib>=3.7").'
        ) from exc
    return Figure(layout="constrained", **options)


def plot_digits(
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray | None = None,
    *,
    predictions: Sequence[int] | np.ndarray | None = None,
    columns: int = 10,
    title: str | None = None,
) -> Figure:
    """A grid of digits captioned with their labels, and predictions in red where wrong.

    Args:
        images: MNIST-style digits: array of shape (n_images, 28, 28) or
            (n_images, 1, 28, 28), uint8 in [0, 255] or floats in [0, 1], light ink on black
            (``load_data("train").images[:40]``, say). They are drawn dark on white.
        labels: the true digit of each image, shown under it.
        predictions: the predicted digit of each image; a wrong one is shown as
            ``"7 → 1"`` in red.
        columns: digits per row.
        title: a title over the grid.

    Returns:
        A matplotlib figure with one axes per digit.

    Raises:
        ValueError: the images are not shaped like MNIST digits, or the labels or predictions
            do not match them in number.
        MissingDependencyError: matplotlib is not installed.

    Examples:
        >>> from mnistcnn import load_data
        >>> figure = plot_digits(load_data("test").images[:20], load_data("test").labels[:20])
        >>> len(figure.axes)
        20
    """
    pixels = np.asarray(images)
    if pixels.ndim == 4 and pixels.shape[1] == 1:
        pixels = pixels[:, 0]
    if pixels.ndim != 3 or pixels.shape[1:] != (28, 28) or len(pixels) == 0:
        raise ValueError(
            f"images must be shaped (n, 28, 28) or (n, 1, 28, 28) with n >= 1; got {pixels.shape}."
        )
    count = len(pixels)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) != count:
            raise ValueError(f"{count} images but {len(values)} {name}.")
    if columns < 1:
        raise ValueError(f"columns must be at least 1; got {columns}.")
    columns = min(columns, count)
    rows = -(-count // columns)
    high = 255.0 if pixels.dtype == np.uint8 else 1.0
    figure = _figure(figsize=(0.9 * columns, 1.05 * rows + (0.4 if title else 0)))
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(grid.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        ax.imshow(pixels[index], cmap=_INK, vmin=0, vmax=high, interpolation="nearest")
        caption, colour = _caption(index, labels, predictions)
        if caption:
            ax.set_title(caption, fontsize=9, color=colour, pad=2)
    if title:
        figure.suptitle(title)
    return figure


def _caption(
    index: int,
    labels: Sequence[int] | np.ndarray | None,
    predictions: Sequence[int] | np.ndarray | None,
) -> tuple[str, str]:
    label = None if labels is None else int(labels[index])
    guess = None if predictions is None else int(predictions[index])
    if guess is None:
        return ("" if label is None else str(label)), "black"
    if label is None:
        return f"→ {guess}", "black"
    return (str(label), "black") if guess == label else (f"{label} → {guess}", _WRONG)


def plot_history(history: History, *, title: str | None = None) -> Figure:
    """Training curves: loss and accuracy per epoch, on the training and validation data.

    Args:
        history: what :func:`mnistcnn.train` returned, or the record a saved model carries
            (``DigitClassifier.pretrained().metadata.history``).
        title: a title over both panels; by default the recipe, seed and process count.

    Returns:
        A matplotlib figure with two axes: loss, then accuracy in percent.

    Raises:
        TypeError: ``history`` is None (a model saved without its history).
        ValueError: the history holds no epochs.
        MissingDependencyError: matplotlib is not installed.

    Examples:
        >>> from mnistcnn import DigitClassifier
        >>> history = DigitClassifier.pretrained().metadata.history
        >>> [ax.get_ylabel() for ax in plot_history(history).axes]
        ['loss (cross-entropy)', 'accuracy (%)']
    """
    if history is None:  # what metadata.history is for a model saved without its history
        raise TypeError(
            "history is None: this model was saved without its training history; pass what "
            "train() returned (or save(..., history=...) to keep it with the model)."
        )
    if not history.epochs:
        raise ValueError("the history holds no epochs to plot.")
    from matplotlib.ticker import MaxNLocator

    epochs = [e.epoch for e in history.epochs]
    figure = _figure(figsize=(9, 3.4))
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    loss_ax.plot(epochs, history.loss, "o-", color=_TRAIN, label="training")
    accuracy_ax.plot(
        epochs, [100 * a for a in history.accuracy], "o-", color=_TRAIN, label="training"
    )
    validated = [e for e in history.epochs if e.val_accuracy is not None]
    if validated:
        at = [e.epoch for e in validated]
        if all(e.val_loss is not None for e in validated):
            loss_ax.plot(at, [e.val_loss for e in validated], "s-", color=_VAL, label="validation")
        values = [100 * float(e.val_accuracy or 0.0) for e in validated]
        accuracy_ax.plot(at, values, "s-", color=_VAL, label="validation")
        accuracy_ax.annotate(
            f"{values[-1]:.2f}%",
            (at[-1], values[-1]),
            textcoords="offset points",
            xytext=(0, -16),
            ha="right",
            color=_VAL,
        )
    for ax, label in ((loss_ax, "loss (cross-entropy)"), (accuracy_ax, "accuracy (%)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(len(epochs), 10)))
    figure.suptitle(title or _describe(history))
    return figure


def _describe(history: History) -> str:
    plan, count = history.recipe, len(history.epochs)
    parts = [f"recipe {plan.name!r}", f"{count} epoch{'s' if count != 1 else ''}"]
    parts.append(f"batch {plan.batch_size}")
    if history.seed is not None:
        parts.append(f"seed {history.seed}")
    if history.world_size > 1:
        parts.append(f"{history.world_size} processes")
    seconds = history.seconds
    parts.append(f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s")
    return ", ".join(parts)


def plot_confusion_matrix(
    report: EvalReport | np.ndarray,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Which digits are mistaken for which: counts per true (row) and predicted (column) digit.

    The diagonal (right answers) is grey so that the few mistakes stand out: off-diagonal cells
    are coloured by their count.

    Args:
        report: what :func:`mnistcnn.evaluate` returned, or a square array of counts with the
            true class in rows.
        ax: draw into these axes instead of a new figure.
        title: by default the number of images and the accuracy.

    Returns:
        The matplotlib figure holding the plot.

    Raises:
        ValueError: ``report`` is not a square matrix of non-negative counts.
        MissingDependencyError: matplotlib is not installed.

    Examples:
        >>> import numpy as np
        >>> counts = np.array([[50, 2], [1, 47]])
        >>> figure = plot_confusion_matrix(counts)
        >>> figure.axes[0].get_title()
        '100 images, accuracy 97.00%'
    """
    matrix = np.asarray(getattr(report, "confusion_matrix", report))
    if (
        matrix.ndim != 2
        or matrix.shape[0] != matrix.shape[1]
        or matrix.size == 0
        or not np.issubdtype(matrix.dtype, np.number)
        or (matrix < 0).any()
    ):
        raise ValueError(
            f"expected a square matrix of non-negative counts; got shape {matrix.shape}."
        )
    matrix = matrix.astype(np.int64)
    size, total = len(matrix), int(matrix.sum())
    if ax is None:
        figure = _figure(figsize=(0.55 * size + 1.8, 0.55 * size + 1.2))
        ax = figure.subplots()
    else:
        figure = ax.figure  # type: ignore[assignment]  # a Figure, or a SubFigure within one
    errors = np.ma.masked_array(matrix, mask=np.eye(size, dtype=bool))
    shown = ax.imshow(errors, cmap="Reds", vmin=0, vmax=max(1, int(errors.max() or 1)))
    ax.imshow(
        np.ma.masked_array(np.ones_like(matrix), mask=~np.eye(size, dtype=bool)),
        cmap="Greys",
        vmin=0,
        vmax=4,
    )
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            strong = row != column and count > 0.6 * float(errors.max() or 1)
            ax.text(
                column,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if strong else "black",
            )
    ticks = range(size)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    correct = int(np.trace(matrix))
    ax.set_title(title or f"{total:,} images, accuracy {correct / max(total, 1):.2%}")
    from matplotlib.ticker import MaxNLocator

    figure.colorbar(shown, ax=ax, shrink=0.8, label="mistakes", ticks=MaxNLocator(integer=True))
    return figure


def plot_model_view(
    classifier: DigitClassifier,
    pictures: PictureInput | Sequence[PictureInput],
    *,
    preprocess: Preprocess = "auto",
) -> Figure:
    """What the model sees: each picture as given, the 28x28 input made from it, and the
    probability of every digit. The way to find out why a picture was misread.

    Args:
        classifier: the model to ask.
        pictures: one picture or a list: file paths, PIL images or arrays, as
            :meth:`DigitClassifier.predict` takes them.
        preprocess: as for :meth:`DigitClassifier.predict_proba`.

    Returns:
        A matplotlib figure with one row of three axes per picture.

    Raises:
        ImageError: a picture cannot be read or holds no ink.
        ValueError: an unknown ``preprocess``, or no pictures.
        MissingDependencyError: matplotlib is not installed.

    Examples:
        >>> from mnistcnn import DigitClassifier, load_data
        >>> figure = plot_model_view(DigitClassifier.pretrained(), load_data("test").images[0])
        >>> figure.axes[2].get_title().startswith("it reads 7 (")
        True
    """
    if preprocess not in PREPROCESS_CHOICES:
        raise ValueError(
            f"preprocess must be one of {list(PREPROCESS_CHOICES)}; got {preprocess!r}."
        )
    items = _as_list(pictures)
    if not items:
        raise ValueError("no pictures to show.")
    seen = np.stack([classifier.preprocess(item, preprocess=preprocess) for item in items])
    probabilities = classifier.predict_proba(seen, preprocess="raw")
    classes = classifier.classes_
    figure = _figure(figsize=(9, 2.6 * len(items)))
    rows = figure.subplots(len(items), 3, squeeze=False, width_ratios=[1, 1, 1.6])
    for item, model_input, row_probabilities, (given, seen_ax, bars) in zip(
        items, seen, probabilities, rows, strict=True
    ):
        shown, cmap = _displayable(item)
        given.imshow(shown, cmap=cmap)
        given.set_title("the picture", fontsize=10)
        seen_ax.imshow(model_input, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        seen_ax.set_title("what the model sees (28x28)", fontsize=10)
        for ax in (given, seen_ax):
            ax.set_xticks([])
            ax.set_yticks([])
        best = int(row_probabilities.argmax())
        colours = [_VAL if j == best else "#b0b0b0" for j in range(len(classes))]
        bars.bar(range(len(classes)), 100 * row_probabilities, color=colours)
        bars.set_xticks(range(len(classes)), [str(c) for c in classes])
        bars.set_ylim(0, 105)
        bars.set_ylabel("probability (%)")
        bars.set_title(
            f"it reads {classes[best]} ({100 * row_probabilities[best]:.1f}%)", fontsize=10
        )
    return figure


def _as_list(pictures: PictureInput | Sequence[PictureInput]) -> list[PictureInput]:
    if isinstance(pictures, np.ndarray):
        if pictures.ndim == 4 and pictures.shape[1] == 1:
            return list(pictures[:, 0])
        # (n, 28, 28) is a stack of MNIST digits; any other 2-D/3-D array is one picture.
        if pictures.ndim == 3 and pictures.shape[1:] == (28, 28):
            return list(pictures)
        return [pictures]
    if is_picture_source(pictures):  # a path, PIL image, bytes or file object: one picture
        return [pictures]  # type: ignore[list-item]
    return list(pictures)  # type: ignore[arg-type]


def _displayable(item: PictureInput) -> tuple[np.ndarray, str | None]:
    """The picture as a person would see it, upright and at most a screen's size."""
    from .._input._pictures import open_picture

    if isinstance(item, np.ndarray):
        if item.ndim == 2 and item.shape == (28, 28):
            return item, "gray"  # MNIST-style: light ink on black, shown as it is
        return item, ("gray" if item.ndim == 2 else None)
    image = open_picture(item)
    image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image.thumbnail((_DISPLAY_SIZE, _DISPLAY_SIZE))
    return np.asarray(image), None
