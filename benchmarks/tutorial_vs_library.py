"""The tutorial's pipeline and mnistcnn's, side by side in one process; prints medians and ratios.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/tutorial_vs_library.py [--repeats 3]

Measured, each as the median of --repeats interleaved runs (the machine is shared and noisy, so
only the ratios between runs of the same process mean much):

- data loading: ``paddle.vision.datasets.MNIST`` + one ``DataLoader`` pass with per-sample
  ``ToTensor``, against ``load_data`` + one pass of batch slicing with ``to_model_input``;
- training images/s: hapi ``fit`` on the tutorial's network (its ``Softmax`` head included)
  against ``mnistcnn.train`` on the same network with a logits head, same images, batch 64;
- prediction images/s on the 10,000 test images: hapi ``predict`` against
  ``DigitClassifier.predict`` with the static backend (and the dynamic one, for reference).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from paddle.vision.transforms import ToTensor  # noqa: E402

import mnistcnn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tutorial_reference import tutorial_network  # noqa: E402


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=6400)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("MNISTCNN_DATA", "")).resolve()
    paddle.set_device("cpu")
    print(f"paddle {paddle.__version__}, mnistcnn {mnistcnn.__version__}, {os.cpu_count()} CPUs")

    def tutorial_dataset(mode: str) -> paddle.io.Dataset:
        prefix = "train" if mode == "train" else "t10k"
        return paddle.vision.datasets.MNIST(
            image_path=str(data_dir / f"{prefix}-images-idx3-ubyte.gz"),
            label_path=str(data_dir / f"{prefix}-labels-idx1-ubyte.gz"),
            mode=mode,
            transform=ToTensor(),
            download=False,
        )

    def tutorial_loading() -> None:
        dataset = tutorial_dataset("train")
        for _ in paddle.io.DataLoader(dataset, batch_size=64):
            pass

    def library_loading() -> None:
        data = mnistcnn.load_data("train", root=data_dir, download=False, progress=False)
        for start in range(0, len(data), 64):
            paddle.to_tensor(mnistcnn.to_model_input(data.images[start : start + 64]))

    train_tutorial = tutorial_dataset("train")
    test_tutorial = tutorial_dataset("test")
    train_set = mnistcnn.load_data("train", root=data_dir, download=False)
    test_set = mnistcnn.load_data("test", root=data_dir, download=False)
    n = args.train_images
    subset = paddle.io.Subset(train_tutorial, list(range(n)))

    def tutorial_training() -> None:
        model = paddle.Model(tutorial_network())
        model.prepare(
            paddle.optimizer.Adam(learning_rate=0.001, parameters=model.parameters()),
            paddle.nn.CrossEntropyLoss(),
            paddle.metric.Accuracy(),
        )
        model.fit(subset, epochs=1, batch_size=64, verbose=0)

    def library_training() -> None:
        network = mnistcnn.build_model("tutorial", seed=0)
        mnistcnn.train(
            network, (train_set.images[:n], train_set.labels[:n]), epochs=1, progress=False
        )

    network = mnistcnn.build_model("tutorial", seed=0)
    mnistcnn.train(network, (train_set.images[:n], train_set.labels[:n]), epochs=1, progress=False)
    folder = Path(tempfile.mkdtemp())
    mnistcnn.save(network, folder / "m", format="both")
    static = mnistcnn.DigitClassifier.load(folder / "m", backend="static")
    dynamic = mnistcnn.DigitClassifier.load(folder / "m", backend="dynamic")
    hapi = paddle.Model(tutorial_network())
    hapi.prepare()
    hapi.load(str(folder / "m"))

    pairs: dict[str, tuple[Callable[[], object], Callable[[], object], int]] = {
        "data loading (train split, one pass)": (tutorial_loading, library_loading, 60_000),
        f"training ({n:,} images, batch 64)": (tutorial_training, library_training, n),
        "prediction (10,000 test images), static": (
            lambda: hapi.predict(test_tutorial, batch_size=64, verbose=0),
            lambda: static.predict(test_set.images),
            10_000,
        ),
        "prediction (10,000 test images), dynamic": (
            lambda: hapi.predict(test_tutorial, batch_size=64, verbose=0),
            lambda: dynamic.predict(test_set.images),
            10_000,
        ),
    }
    print(f"{'measure':<44} {'tutorial':>12} {'mnistcnn':>12} {'speed-up':>9}")
    for name, (theirs, ours, images) in pairs.items():
        times_theirs, times_ours = [], []
        for _ in range(args.repeats):
            times_theirs.append(timed(theirs))
            times_ours.append(timed(ours))
        t_theirs, t_ours = statistics.median(times_theirs), statistics.median(times_ours)
        print(
            f"{name:<44} {t_theirs:>10.2f} s {t_ours:>10.2f} s {t_theirs / t_ours:>8.1f}x"
            f"   ({images / t_theirs:,.0f} vs {images / t_ours:,.0f} images/s)"
        )
    single = test_set.images[:1]
    latencies = [timed(lambda: static.predict(single)) for _ in range(200)]
    print(f"static predict, one image: median {statistics.median(latencies) * 1000:.2f} ms")
    hapi_output = np.concatenate(hapi.predict(test_tutorial, batch_size=64, verbose=0)[0])
    agree = np.array_equal(hapi_output.argmax(axis=1), static.predict(test_set.images))
    print(f"tutorial hapi predict and mnistcnn static predict agree on every label: {agree}")


if __name__ == "__main__":
    main()
