"""Inference speed through the public ``predict``, for every backend, against the raw predictor.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/inference.py [--model PATH]

Reports medians of repeated runs in this one process: images/s on the 10,000 test images
(``predict``, default batch 64), single-image latency, and the same for a bare Paddle Inference
predictor on the same model, so the library's own overhead is visible as a ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

import mnistcnn  # noqa: E402
from mnistcnn import DigitClassifier  # noqa: E402


def median_seconds(function: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="saved model (default: pretrained)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    test = mnistcnn.load_data("test")
    images = test.images
    one = images[:1]

    def load(backend: str) -> DigitClassifier:
        if args.model:
            return DigitClassifier.load(args.model, backend=backend)  # type: ignore[arg-type]
        return DigitClassifier.pretrained(backend=backend)  # type: ignore[arg-type]

    static, dynamic = load("static"), load("dynamic")
    raw = static._backend  # the bare predictor, for reference
    batch = mnistcnn.to_model_input(images[:64])

    def raw_test_set() -> None:
        for start in range(0, len(images), 64):
            raw.run(mnistcnn.to_model_input(images[start : start + 64]))

    for warm in (static, dynamic):
        warm.predict(images[:256])
        warm.predict(one)
    rows = [
        (
            "static predict, test set",
            median_seconds(lambda: static.predict(images), args.repeats),
            10_000,
        ),
        ("dynamic predict, test set", median_seconds(lambda: dynamic.predict(images), 3), 10_000),
        ("bare predictor, test set (batch 64)", median_seconds(raw_test_set, args.repeats), 10_000),
        ("bare predictor, one batch of 64", median_seconds(lambda: raw.run(batch), 50), 64),
    ]
    for name, seconds, count in rows:
        print(f"{name:<40} {count / seconds:>10,.0f} images/s")
    single = median_seconds(lambda: static.predict(one), 500)
    single_raw = median_seconds(lambda: raw.run(batch[:1]), 500)
    single_dynamic = median_seconds(lambda: dynamic.predict(one), 100)
    print(f"{'static predict, one image':<40} {single * 1000:>10.3f} ms")
    print(f"{'bare predictor, one image':<40} {single_raw * 1000:>10.3f} ms")
    print(f"{'dynamic predict, one image':<40} {single_dynamic * 1000:>10.3f} ms")
    print(f"library overhead on one image: {single / single_raw:.2f}x the bare predictor")
    agree = np.array_equal(static.predict(images), dynamic.predict(images))
    print(f"static and dynamic agree on every test label: {agree}")


if __name__ == "__main__":
    main()
