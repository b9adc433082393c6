"""Predicting from a memory-mapped array against the same images in memory.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/memmap.py [--images N] [--repeats R]

Writes N digits (the MNIST training images, tiled) to a temporary ``.npy`` file, opens it with
``np.load(mmap_mode="r")`` and times ``predict_proba`` on it and on an in-memory copy,
alternating the two, with the shipped model. Prints the median of each and their ratio. The
file was just written, so its pages are in the page cache: this measures the input path's cost
of reading slice by slice from a map, not the disk.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

import mnistcnn  # noqa: E402
from mnistcnn import DigitClassifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    digits = mnistcnn.load_data("train").images
    classifier = DigitClassifier.pretrained()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits.npy"
        mapped = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.uint8, shape=(args.images, 28, 28)
        )
        for start in range(0, args.images, len(digits)):
            mapped[start : start + len(digits)] = digits[: args.images - start]
        mapped.flush()
        del mapped
        on_disk = np.load(path, mmap_mode="r")
        in_memory = np.array(on_disk)
        classifier.predict_proba(in_memory[:1000], batch_size=args.batch_size)  # warm-up
        times: dict[str, list[float]] = {"memmap": [], "in memory": []}
        results = {}
        for _ in range(args.repeats):
            for name, images in (("memmap", on_disk), ("in memory", in_memory)):
                start = time.perf_counter()
                results[name] = classifier.predict_proba(images, batch_size=args.batch_size)
                times[name].append(time.perf_counter() - start)
        del on_disk
    if not np.array_equal(results["memmap"], results["in memory"]):
        raise SystemExit("the memory-mapped and in-memory results differ")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, seconds in medians.items():
        print(
            f"{name:>10}: {seconds:.3f} s median of {args.repeats} "
            f"({args.images / seconds:,.0f} images/s)"
        )
    print(f"memmap / in memory: {medians['memmap'] / medians['in memory']:.3f}")


if __name__ == "__main__":
    main()
