"""Memory does not grow with the number of images: a memory-mapped array of 200,000 digits and a
long iterator of encoded pictures are predicted a batch at a time.

Each measurement runs in a fresh process (this file is also the script it runs), so that
nothing the test session allocated before counts. Two measures of the peak:

- tracemalloc's peak, which counts every NumPy allocation (exactly, whatever the allocator
  keeps cached);
- the peak of RssAnon (anonymous resident memory, from /proc/self/status) sampled every
  5 ms, which also counts Paddle's own memory. The mapped file's pages are file-backed,
  so they are not in it (they are in ru_maxrss, which is why that is not used).
"""

from __future__ import annotations

import io
import json
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).parent.parent
MIB = 1024**2


def _rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def _peaks(work: Callable[[], np.ndarray]) -> dict[str, int]:
    """Run ``work``; the peaks of NumPy allocations and of RssAnon above their levels before,
    with the size of the result."""
    baseline = _rss_anon()
    highest = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            highest[0] = max(highest[0], _rss_anon())

    sampler = threading.Thread(target=sample)
    tracemalloc.start()
    sampler.start()
    try:
        result = work()
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        done.set()
        sampler.join()
        tracemalloc.stop()
    return {"traced": traced_peak, "rss_anon": highest[0] - baseline, "result": result.nbytes}


def _probe(kind: str, folder: Path) -> dict[str, dict[str, int]]:
    import paddle
    from PIL import Image

    import mnistcnn
    from mnistcnn import DigitClassifier

    # A real Paddle network, linear so that 200,000 images take seconds: the memory measured is
    # the input path's, which is the same whatever the network.
    paddle.seed(0)
    network = paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(784, 10))
    classifier = DigitClassifier(network)
    digits = mnistcnn.load_data("train", root=folder / "mnist", download=False).images[:1000]
    classifier.predict_proba(digits[:300], batch_size=256)  # Paddle's one-time allocations
    if kind == "memmap":
        mapped = np.lib.format.open_memmap(
            folder / "digits.npy", mode="w+", dtype=np.uint8, shape=(200_000, 28, 28)
        )
        for start in range(0, len(mapped), len(digits)):
            mapped[start : start + len(digits)] = digits
        mapped.flush()
        del mapped
        images = np.load(folder / "digits.npy", mmap_mode="r")
        return {
            str(n): _peaks(lambda n=n: classifier.predict_proba(images[:n], batch_size=256))
            for n in (20_000, 200_000)
        }
    encoded = []
    for digit in digits[:200]:
        buffer = io.BytesIO()
        Image.fromarray(digit).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())

    def pictures(n: int) -> Iterator[bytes]:
        for i in range(n):
            yield bytes(encoded[i % len(encoded)])  # a new object each time, as a reader gives

    return {
        str(n): _peaks(lambda n=n: classifier.predict_proba(pictures(n), batch_size=256))
        for n in (1_000, 10_000)
    }


def _measure(kind: str, tmp_path: Path, mnist_dir: Path) -> dict[str, dict[str, int]]:
    from ..conftest import run_python

    (tmp_path / "mnist").symlink_to(mnist_dir)
    output = run_python(__file__, kind, tmp_path).stdout
    measured: dict[str, dict[str, int]] = json.loads(output.strip().splitlines()[-1])
    return measured


@pytest.mark.slow
def test_memory_mapped_images_are_read_a_batch_at_a_time(tmp_path: Path, mnist_dir: Path) -> None:
    few, many = _measure("memmap", tmp_path, mnist_dir).values()
    assert many["result"] == 200_000 * 10 * 4
    # Beside the (n, 10) result, NumPy holds only a few batches (at batch 256, the model input
    # and the ink mask of the MNIST-form test are 0.8 MB each): under 3 MiB, while the images
    # are 150 MiB as uint8 and 600 MiB as float32. Ten times more images: the same.
    assert many["traced"] - many["result"] < 3 * MIB, many
    assert abs((many["traced"] - many["result"]) - (few["traced"] - few["result"])) < MIB
    assert many["rss_anon"] < many["result"] + 40 * MIB, many


@pytest.mark.slow
def test_a_long_iterator_is_never_held_in_memory(tmp_path: Path, mnist_dir: Path) -> None:
    few, many = _measure("iterator", tmp_path, mnist_dir).values()
    # An iterator's length is unknown: its results are gathered per batch and joined, so the
    # result is counted twice at the end. 10,000 pictures kept as bytes would add 3 MiB,
    # as model input 30 MiB.
    assert many["traced"] - 2 * many["result"] < 2 * MIB, many
    assert abs((many["traced"] - 2 * many["result"]) - (few["traced"] - 2 * few["result"])) < MIB
    assert many["rss_anon"] < 2 * many["result"] + 40 * MIB, many


if __name__ == "__main__":
    print(json.dumps(_probe(sys.argv[1], Path(sys.argv[2]))))
