"""One classifier shared by many threads gives exactly the results of one thread."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec

import numpy as np
import paddle
import pytest
from PIL import Image

from mnistcnn import DigitClassifier, MnistDataset, build_model

from ..pictures import load_usps, number_picture, photo_of

THREADS = 8
ROUNDS = 3  # each thread runs every job this many times, in its own shuffled order

Job = Callable[[DigitClassifier], object]


def _jobs(test_set: MnistDataset) -> list[Job]:
    """Calls of every kind: arrays of several batch shapes, pictures that are normalised,
    encoded bytes, a list, a number to read, and the 28x28 input of a photo."""
    digits = test_set.images[:40]
    photo = photo_of(test_set.images[0], np.random.default_rng(0))
    buffer = io.BytesIO()
    Image.fromarray(255 - test_set.images[1]).resize((60, 60)).save(buffer, format="PNG")
    encoded = buffer.getvalue()
    ink, _ = load_usps()
    number = number_picture([ink[i] for i in (0, 5, 9)], np.random.default_rng(1))
    return [
        lambda c: c.predict_proba(digits),
        lambda c: c.predict_proba(digits[:7], batch_size=3),
        lambda c: c.predict_proba(digits[3]),
        lambda c: c.predict(255 - digits[:20]),
        lambda c: c.predict_proba([photo, encoded, digits[4]]),
        lambda c: c.predict_proba(io.BytesIO(encoded)),
        lambda c: c.read_digits(number),
        lambda c: c.preprocess(photo),
    ]


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b  # Reading is a frozen dataclass: compared field by field


def _check_shared(classifier: DigitClassifier, jobs: list[Job]) -> None:
    expected = [job(classifier) for job in jobs]

    def worker(seed: int) -> list[tuple[int, object]]:
        order = np.random.default_rng(seed).permutation(np.tile(np.arange(len(jobs)), ROUNDS))
        return [(int(i), jobs[i](classifier)) for i in order]

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [item for done in pool.map(worker, range(THREADS)) for item in done]
    assert len(outcomes) == THREADS * ROUNDS * len(jobs)
    mismatched = [i for i, result in outcomes if not _same(result, expected[i])]
    assert not mismatched, f"jobs giving other results in threads: {sorted(set(mismatched))}"


@pytest.mark.parametrize(
    "backend",
    [
        "static",
        "dynamic",
        pytest.param(
            "onnxruntime",
            marks=pytest.mark.skipif(not find_spec("onnxruntime"), reason="the onnx extra"),
        ),
    ],
)
def test_a_loaded_model_shared_by_threads(test_set: MnistDataset, backend: str) -> None:
    classifier = DigitClassifier.pretrained(backend=backend)  # type: ignore[arg-type]
    _check_shared(classifier, _jobs(test_set))


def test_a_network_in_training_mode_shared_by_threads(test_set: MnistDataset) -> None:
    # Batch norm and dropout: every forward pass in training mode would change the result.
    network = build_model("best", seed=0)
    network.train()
    network[1].eval()  # a frozen batch norm, as in fine-tuning: must stay as the user set it
    modes = [layer.training for layer in network.sublayers(include_self=True)]
    assert any(modes) and not all(modes)
    classifier = DigitClassifier(network)
    _check_shared(classifier, _jobs(test_set)[:6])
    assert [layer.training for layer in network.sublayers(include_self=True)] == modes
    assert paddle.is_grad_enabled()  # no_grad of one thread did not leak into this one


def test_two_classifiers_in_two_threads_agree_with_one_thread(test_set: MnistDataset) -> None:
    first = DigitClassifier(build_model("fast", seed=1))
    second = DigitClassifier.pretrained(backend="dynamic")
    digits = test_set.images[:64]
    expected = (first.predict_proba(digits), second.predict_proba(digits))
    with ThreadPoolExecutor(2) as pool:
        for _ in range(20):
            a = pool.submit(first.predict_proba, digits)
            b = pool.submit(second.predict_proba, digits)
            assert np.array_equal(a.result(), expected[0])
            assert np.array_equal(b.result(), expected[1])
    assert paddle.is_grad_enabled()
