"""Reading whole numbers: every held-out kind, from two digit sources and two generators.

    MNISTCNN_DATA=... python benchmarks/reading.py [--count 200] [--seed 1] [--kinds K,...]
        [--sources usps,mnist] [--generators bitmap,pen] [--baseline REF] [--json out.json]

Held-out numbers are composed by two generators that share no code with the reader's training
composer nor with each other: ``bitmap`` (``tests/held_out.py``: the source digits enlarged as
bitmaps, on greyish paper) and ``pen`` (``tests/held_out_pen.py``: each digit redrawn with a
round pen along its skeleton, on tinted paper). The digits come from the USPS test scans
(writers MNIST never saw) or the MNIST test digits, never the MNIST training digits. Kinds:
digits apart, six printed boxes, digits apart on a line tilted 4-15 degrees, touching or
overlapping along one baseline, touching with each digit at its own height, and digits joined
by a connecting pen stroke.

For every kind x source x generator and each method (``auto``, ``segments``, ``sequence``; and
``baseline``, ``read_digits`` of the git commit ``--baseline``, only when asked) it reports
the share of numbers read exactly, the ceiling (the share of numbers whose every digit the
pretrained classifier reads right when shown that source digit alone), exact over ceiling,
the ceiling of the digits as drawn (each digit as the generator drew it into the picture,
shown alone), the share of digits right (1 - edit distance / length) and the median
milliseconds per number.
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

from mnistcnn import DigitClassifier, ImageError  # noqa: E402
from tests import held_out, held_out_pen  # noqa: E402
from tests.held_out import KINDS, SOURCES, Number, ceiling, drawn_ceiling  # noqa: E402

GENERATORS = {"bitmap": held_out.numbers, "pen": held_out_pen.numbers}
METHODS = ("auto", "segments", "sequence")
BASELINE = "c0342b2"  # 0.2.0, the last commit before the sequence reader and printed boxes

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
    """The text read from each item (empty where the reader found no digit) and the seconds."""
    texts, seconds = [], []
    for item in items:
        start = time.perf_counter()
        try:
            text = classifier.read_digits(item.picture, method=method).text  # type: ignore[arg-type]
        except ImageError:  # "no digit found": a wrong reading, not the end of the benchmark
            text = ""
        seconds.append(time.perf_counter() - start)
        texts.append(text)
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


def _choices(text: str, allowed: tuple[str, ...], name: str) -> list[str]:
    chosen = [part for part in text.split(",") if part]
    wrong = [part for part in chosen if part not in allowed]
    if wrong or not chosen:
        raise SystemExit(f"--{name} takes some of {','.join(allowed)}; got {text!r}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="numbers of each set")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--baseline", metavar="REF", help=f"also read with this git commit (e.g. {BASELINE})"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    kinds = _choices(args.kinds, KINDS, "kinds")
    sources = _choices(args.sources, SOURCES, "sources")
    generators = _choices(args.generators, tuple(GENERATORS), "generators")
    methods = _choices(args.methods, METHODS, "methods")
    classifier = DigitClassifier.pretrained()
    classifier.read_digits(np.pad(np.full((20, 6), 255, np.uint8), 10))  # load the reader once
    rows: list[dict[str, object]] = []
    header = (
        f"{'kind':<9} {'source':<6} {'generator':<9} {'method':<9} {'exact':>7} {'ceiling':>8}"
        f" {'of ceil':>8} {'drawn':>7} {'digits':>7} {'ms':>6}"
    )
    print(header)
    print("-" * len(header), flush=True)
    for kind in kinds:
        for source in sources:
            for generator in generators:
                items = list(GENERATORS[generator](kind, args.count, args.seed, source=source))  # type: ignore[arg-type]
                expected = [item.text for item in items]
                top = ceiling(classifier, items)
                drawn = drawn_ceiling(classifier, items)
                runs = {method: read_all(classifier, items, method) for method in methods}
                if args.baseline:
                    runs["baseline"] = read_baseline(args.baseline, items)
                for method, (texts, seconds) in runs.items():
                    figures = score(expected, texts, seconds)
                    row = {
                        "kind": kind,
                        "source": source,
                        "generator": generator,
                        "method": method,
                        "count": len(items),
                        "exact": figures["exact"],
                        "ceiling": top,
                        "of_ceiling": figures["exact"] / top if top else float("nan"),
                        "drawn_ceiling": drawn,
                        "digits": figures["digits"],
                        "ms": figures["ms"],
                        "unread": sum(text == "" for text in texts),
                    }
                    rows.append(row)
                    drawn_text = "-" if drawn is None else f"{drawn:.1%}"
                    print(
                        f"{kind:<9} {source:<6} {generator:<9} {method:<9}"
                        f" {figures['exact']:>7.1%} {top:>8.1%} {row['of_ceiling']:>8.0%}"
                        f" {drawn_text:>7} {figures['digits']:>7.2%} {figures['ms']:>6.1f}",
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
