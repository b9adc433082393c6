"""Accuracy on the USPS ZIP-code test digits (real envelope scans), through the public API.

    python benchmarks/usps.py [--model PATH]      # default: the pretrained model

The 2,007 digits (16x16, values in [-1, 1], -1 background) are rendered as 8-bit grey images of
dark ink on white paper, as a scanner would give them, then passed to ``predict`` as PIL images,
so the picture normalisation runs exactly as it does for users' own pictures.
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mnistcnn import DigitClassifier

USPS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "usps" / "zip.test.gz"


def load_usps(path: Path = USPS) -> tuple[list[Image.Image], np.ndarray]:
    with gzip.open(path, "rt") as text:
        rows = np.loadtxt(text)
    labels = rows[:, 0].astype(np.int64)
    ink = (rows[:, 1:].reshape(-1, 16, 16) + 1) / 2  # 0 background, 1 ink
    pictures = [Image.fromarray(np.round(255 * (1 - image)).astype(np.uint8)) for image in ink]
    return pictures, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="saved model (default: pretrained)")
    parser.add_argument("--data", type=Path, default=USPS)
    args = parser.parse_args()
    classifier = DigitClassifier.load(args.model) if args.model else DigitClassifier.pretrained()
    pictures, labels = load_usps(args.data)
    start = time.perf_counter()
    predicted = classifier.predict(pictures)
    seconds = time.perf_counter() - start
    accuracy = float((predicted == labels).mean())
    per_digit = seconds * 1000 / len(labels)
    print(f"USPS test: {accuracy:.2%} of {len(labels):,} digits ({per_digit:.2f} ms per digit)")


if __name__ == "__main__":
    main()
