"""Real-picture accuracy and preprocessing cost, through the public API with the shipped model.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/pictures.py

- USPS envelope digits (dark on white 16x16 scans); MNIST test digits photographed on paper
  (off-centre, uneven lighting, noise, JPEG) and drawn on a transparent canvas;
- 5-6 digit numbers composed of USPS digits, spaced and touching, read with ``read_digits``;
- milliseconds of preprocessing per picture: 28x28-sized digits, and a 3000x4000 phone photo.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import mnistcnn  # noqa: E402
from mnistcnn import DigitClassifier  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.pictures import canvas_drawing, load_usps, number_picture, photo_of  # noqa: E402


def median_ms(function: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    model = DigitClassifier.pretrained()
    test = mnistcnn.load_data("test")
    rng = np.random.default_rng(0)
    index = np.arange(0, 10_000, 25)  # 400 digits spread over the test set
    ink, labels = load_usps()

    def report(name: str, pictures: list[Image.Image], truth: np.ndarray) -> None:
        accuracy = np.mean(model.predict(pictures) == truth)  # type: ignore[arg-type]
        print(f"{name:<31}{accuracy:.2%} of {len(truth)}")

    usps = [Image.fromarray(255 - image) for image in ink]
    report("USPS envelope digits:", usps, labels)
    report(
        "photographed MNIST digits:",
        [photo_of(test.images[i], rng) for i in index],
        test.labels[index],
    )
    report(
        "canvas drawings (RGBA):",
        [canvas_drawing(test.images[i]) for i in index],
        test.labels[index],
    )

    for touching in (False, True):
        exact = []
        for _ in range(150):
            chosen = rng.choice(len(labels), size=int(rng.integers(5, 7)), replace=False)
            picture = number_picture([ink[i] for i in chosen], rng, touching=touching)
            truth = "".join(str(labels[i]) for i in chosen)
            exact.append(model.read_digits(picture, min_confidence=0.0).text == truth)
        kind = "touching" if touching else "spaced"
        print(f"5-6 digit numbers, {kind:<9}   {np.mean(exact):.2%} read exactly, of {len(exact)}")

    small = Image.fromarray(255 - test.images[0])
    usps_digit = usps[0]
    big = photo_of(test.images[0], rng, size=(4000, 3000), glyph_sizes=(800, 1200)).convert("RGB")
    assert model.predict(big)[0] == test.labels[0]
    folder = Path(tempfile.mkdtemp())
    big.save(folder / "photo.jpg", quality=90)
    timings = {
        "preprocess one 28x28 digit:": median_ms(lambda: model.preprocess(small), 300),
        "preprocess one 16x16 scan:": median_ms(lambda: model.preprocess(usps_digit), 300),
        "preprocess a 3000x4000 photo:": median_ms(lambda: model.preprocess(big), 9),
        "same, from its JPEG file:": median_ms(lambda: model.preprocess(folder / "photo.jpg"), 9),
    }
    for name, ms in timings.items():
        print(f"{name:<31}{ms:.3f} ms")


if __name__ == "__main__":
    main()
