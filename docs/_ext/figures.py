"""Draw the documentation's figures with mnistcnn's own plotting helpers, at every build.

The figures are made from the real MNIST files (``load_data``: ``MNISTCNN_DATA``, the cache,
or a download) and the weights shipped in the package, so they always show what this version
of the library does. They land in ``docs/_generated/`` (not committed) before Sphinx reads the
pages that show them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

import mnistcnn
from mnistcnn import (
    DigitClassifier,
    draw_reading,
    evaluate,
    load_data,
    plot_confusion_matrix,
    plot_digits,
    plot_history,
    plot_model_view,
)

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DPI = 110


def generate(app: Sphinx) -> None:
    started = time.perf_counter()
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    try:
        train_set, test_set = load_data("train"), load_data("test")
    except mnistcnn.MnistCnnError as exc:
        raise ExtensionError(
            f"the figures are drawn from the MNIST files, which could not be loaded: {exc} "
            "Set MNISTCNN_DATA to the directory that holds them."
        ) from exc
    classifier = DigitClassifier.pretrained()
    report = evaluate(classifier, test_set)
    figures = {
        "samples.png": plot_digits(
            train_set.images[:40], train_set.labels[:40], title="The first 40 training digits"
        ),
        "training-curves.png": _training_curves(classifier),
        "confusion-matrix.png": plot_confusion_matrix(
            report, title=f"Shipped model on the MNIST test set: {report.accuracy:.2%}"
        ),
        "mistakes.png": _mistakes(classifier, test_set),
        "model-view.png": _model_view(classifier, test_set),
    }
    for name, figure in figures.items():
        _save_atomically(figure, out / name)
    for name, picture in _readings(classifier).items():
        partial = out / f"{name}.partial"
        picture.save(partial, format="PNG")
        partial.replace(out / name)
    _write_atomically(out / "model-card-accuracy.md", _accuracy_table(report))
    logger.info("mnistcnn: drew %d figures in %.1f s", len(figures), time.perf_counter() - started)


def _training_curves(classifier: DigitClassifier) -> object:
    history = classifier.metadata.history
    if history is None:
        raise ExtensionError("the shipped model's metadata holds no training history.")
    return plot_history(history)


def _mistakes(classifier: DigitClassifier, test_set: mnistcnn.MnistDataset) -> object:
    predictions = classifier.predict(test_set.images)
    wrong = np.flatnonzero(predictions != test_set.labels)
    return plot_digits(
        test_set.images[wrong],
        test_set.labels[wrong],
        predictions=predictions[wrong],
        columns=12,
        title=f"All {len(wrong)} test digits the shipped model gets wrong (true → read)",
    )


def _model_view(classifier: DigitClassifier, test_set: mnistcnn.MnistDataset) -> object:
    # Realistic pictures made from real handwriting, as the test suite makes them: a photo of a
    # digit on paper (shadow, noise, JPEG) and a drawing on a transparent canvas.
    sys.path.insert(0, str(ROOT))
    try:
        from tests.pictures import canvas_drawing, photo_of
    finally:
        sys.path.remove(str(ROOT))
    rng = np.random.default_rng(7)
    photo = photo_of(test_set.images[61], rng, size=(480, 360))
    drawing = canvas_drawing(test_set.images[99])
    return plot_model_view(classifier, [photo, drawing, test_set.images[8]])


def _readings(classifier: DigitClassifier) -> dict[str, Image.Image]:
    """Held-out numbers of each kind (USPS digits, as the tests and the benchmark make them),
    each drawn with what ``read_digits`` found, stacked in one picture per kind."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.held_out import boxed_number, numbers
        from tests.pictures import load_usps
    finally:
        sys.path.remove(str(ROOT))
    kinds = {
        "reading-apart.png": [n.picture for n in numbers("apart", 3, seed=21)],
        "reading-touching.png": [n.picture for n in numbers("touching", 3, seed=22)],
        "reading-boxed.png": [n.picture for n in numbers("boxed", 3, seed=23)],
    }
    digits, _ = load_usps()
    rng = np.random.default_rng(24)
    grid: list[np.ndarray | None] = [digits[i] for i in rng.choice(len(digits), 8)]
    grid[6] = grid[7] = None  # a remittance slip's grid, the last two boxes left empty
    kinds["reading-grid.png"] = [boxed_number(grid, rng, grid=True, colour="green")]
    return {
        name: _stack([_drawn(classifier, p) for p in pictures]) for name, pictures in kinds.items()
    }


def _drawn(classifier: DigitClassifier, picture: Image.Image) -> Image.Image:
    return draw_reading(picture, classifier.read_digits(picture))


def _stack(pictures: list[Image.Image]) -> Image.Image:
    width = max(p.width for p in pictures)
    canvas = Image.new("RGB", (width, sum(p.height for p in pictures)), "white")
    top = 0
    for picture in pictures:
        canvas.paste(picture, (0, top))
        top += picture.height
    return canvas


def _accuracy_table(report: mnistcnn.EvalReport) -> str:
    """The confusion matrix with recall and precision, as a Markdown table."""
    matrix = report.confusion_matrix
    digits = range(len(matrix))
    lines = [
        f"Accuracy **{report.accuracy:.2%}** on the 10,000 MNIST test digits (loss "
        f"{report.loss:.3f}); {int(matrix.sum() - matrix.trace())} mistakes.",
        "",
        "| true digit ↓ / predicted → | " + " | ".join(map(str, digits)) + " | recall |",
        "| --- " * (len(matrix) + 2) + "|",
    ]
    for row in digits:
        cells = " | ".join(str(int(v)) for v in matrix[row])
        lines.append(f"| **{row}** | {cells} | {report.recall[row]:.2%} |")
    lines.append("| precision | " + " | ".join(f"{p:.2%}" for p in report.precision) + " | |")
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _save_atomically(figure: object, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    figure.savefig(partial, dpi=DPI, format="png")  # type: ignore[attr-defined]
    partial.replace(path)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", generate)
    return {"version": mnistcnn.__version__, "parallel_read_safe": True}
