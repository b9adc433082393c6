"""Evaluate a model on the MNIST test set, then plot its confusion matrix and its mistakes.

    python examples/confusion_matrix.py [MODEL_PREFIX] [--output-dir DIR]

Without MODEL_PREFIX it evaluates the weights shipped with mnistcnn. Writes
DIR/confusion_matrix.png and DIR/mistakes.png (DIR defaults to the current directory).
Plotting needs matplotlib: pip install "mnistcnn[plot]".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mnistcnn import DigitClassifier, evaluate, load_data, plot_confusion_matrix, plot_digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a saved model's path prefix (default: shipped)")
    parser.add_argument("--output-dir", type=Path, default=Path("."))
    args = parser.parse_args()

    classifier = DigitClassifier.load(args.model) if args.model else DigitClassifier.pretrained()
    test = load_data("test")
    report = evaluate(classifier, test)
    print(report)  # accuracy, loss, precision and recall per digit

    args.output_dir.mkdir(parents=True, exist_ok=True)
    matrix_png = args.output_dir / "confusion_matrix.png"
    plot_confusion_matrix(report).savefig(matrix_png, dpi=120)

    predictions = classifier.predict(test.images)
    wrong = np.flatnonzero(predictions != test.labels)
    mistakes_png = args.output_dir / "mistakes.png"
    shown = wrong[:60]  # the first 60 mistakes, true digit -> what the model read
    plot_digits(
        test.images[shown],
        test.labels[shown],
        predictions=predictions[shown],
        columns=12,
        title=f"{len(shown)} of {len(wrong)} mistakes (true → read)",
    ).savefig(mistakes_png, dpi=120)
    print(f"wrote {matrix_png} and {mistakes_png}")


if __name__ == "__main__":
    main()
