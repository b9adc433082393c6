"""Reading whole numbers: the three held-out kinds, this version against the previous one.

    python benchmarks/reading.py [--count 300] [--seed 1] [--baseline REF]

Composes held-out numbers from the USPS envelope digits (``tests/held_out.py``: writers MNIST
never saw, and a generator that shares nothing with the reader's training composer): digits
apart, digits touching or overlapping (slanted), and six-box postal codes printed in red or
green with blue or black ink. For each kind it reports the share of numbers read exactly, the
share of digits right (1 - edit distance / length) and the median milliseconds per number, for:

- ``auto``: this version's ``read_digits`` (classifier for separate digits, the sequence reader
  where digits touch, printed boxes by colour);
- ``segments`` and ``sequence``: this version with one method throughout;
- ``baseline``: ``read_digits`` of the commit ``--baseline`` (default: the last commit before
  the reader), run from a ``git archive`` of it in a subprocess on the same pictures;
- ``isolated``: the ceiling a digit classifier sets: the share of numbers whose every digit the
  pretrained classifier gets right when shown that USPS digit alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

from mnistcnn import DigitClassifier  # noqa: E402
from tests.held_out import KINDS, Number, numbers  # noqa: E402
from tests.pictures import load_usps  # noqa: E402

BASELINE = "c0342b2"  # the last commit before the sequence reader and printed boxes

_BASELINE_SCRIPT = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from pathlib import Path
from mnistcnn import DigitClassifier
classifier = DigitClassifier.pretrained()
results = []
for path in sorted(Path(sys.argv[1]).glob("*.png")):
    start = time.perf_counter()
    reading = classifier.read_digits(str(path))
    seconds = time.perf_counter() - start
    results.append(["".join(str(d.label) for d in reading.digits), seconds])
print(json.dumps(results))
"""


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, char_b in enumerate(b, 1):
            previous, row[j] = (
                row[j],
                min(row[j] + 1, row[j - 1] + 1, previous + (char_a != char_b)),
            )
    return row[-1]


def score(expected: list[str], read: list[str], seconds: list[float]) -> dict[str, float]:
    exact = np.mean([a == b for a, b in zip(expected, read, strict=True)])
    errors = sum(edit_distance(a, b) for a, b in zip(expected, read, strict=True))
    digits = sum(len(a) for a in expected)
    return {
        "exact": float(exact),
        "digits": 1 - errors / digits,
        "ms": 1000 * statistics.median(seconds),
    }


def read_all(
    classifier: DigitClassifier, items: list[Number], method: str
) -> tuple[list[str], list[float]]:
    texts, seconds = [], []
    for item in items:
        start = time.perf_counter()
        reading = classifier.read_digits(item.picture, method=method)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - start)
        texts.append(reading.text)
    return texts, seconds


def read_baseline(ref: str, items: list[Number]) -> tuple[list[str], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "code.tar"
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", "-o", str(archive), ref, "mnistcnn"], check=True
        )
        with tarfile.open(archive) as tar:
            tar.extractall(Path(tmp) / "code", filter="data")
        pictures = Path(tmp) / "pictures"
        pictures.mkdir()
        for index, item in enumerate(items):
            item.picture.save(pictures / f"{index:05d}.png")
        env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "code")}
        output = subprocess.run(
            [sys.executable, "-c", _BASELINE_SCRIPT, str(pictures)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        ).stdout
    results = json.loads(output.strip().splitlines()[-1])
    return [text for text, _ in results], [seconds for _, seconds in results]


def isolated(classifier: DigitClassifier, items: list[Number]) -> float:
    """Share of numbers whose every digit the classifier reads right on its own."""
    digits, labels = load_usps()
    predicted = classifier.predict(255 - digits)  # dark ink on white, as scanned
    right = predicted == labels
    return float(np.mean([all(right[i] for i in item.sources) for item in items]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="numbers of each kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", default=BASELINE, help="git commit to compare with")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    classifier = DigitClassifier.pretrained()
    classifier.read_digits(np.pad(np.full((20, 6), 255, np.uint8), 10))  # load the reader once
    figures: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'kind':<9} {'reading':<9} {'exact':>7} {'digits':>7} {'ms':>6}")
    for kind in args.kinds.split(","):
        items = list(numbers(kind, args.count, args.seed))  # type: ignore[arg-type]
        expected = [item.text for item in items]
        figures[kind] = {}
        runs = {
            method: read_all(classifier, items, method)
            for method in ("auto", "segments", "sequence")
        }
        if args.baseline:
            runs["baseline"] = read_baseline(args.baseline, items)
        for name, (texts, seconds) in runs.items():
            figures[kind][name] = score(expected, texts, seconds)
        figures[kind]["isolated"] = {"exact": isolated(classifier, items)}
        for name, values in figures[kind].items():
            line = f"{kind:<9} {name:<9} {values['exact']:>7.1%}"
            if "digits" in values:
                line += f" {values['digits']:>7.2%} {values['ms']:>6.1f}"
            print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
