from __future__ import annotations

import numpy as np
import pytest

from mnistcnn import ImageError, to_model_input


@pytest.mark.parametrize("shape", [(28, 28), (3, 28, 28), (3, 1, 28, 28)])
def test_shapes_become_a_batch(shape: tuple[int, ...]) -> None:
    batch = to_model_input(np.zeros(shape, np.uint8))
    assert batch.dtype == np.float32
    assert batch.shape == (int(np.prod(shape)) // 784, 1, 28, 28)


def test_uint8_is_scaled_like_to_tensor() -> None:
    pixels = np.arange(256, dtype=np.uint8).repeat(4)[:784].reshape(28, 28)
    np.testing.assert_allclose(to_model_input(pixels)[0, 0], pixels / 255.0, atol=1e-7)


def test_integer_and_float_input_agree() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (2, 28, 28))
    np.testing.assert_allclose(to_model_input(pixels), to_model_input(pixels / 255.0), atol=1e-6)


def test_value_range_maps_background_and_ink() -> None:
    pixels = np.array([0, 255] * 392, dtype=np.uint8).reshape(28, 28)
    batch = to_model_input(pixels, value_range=(-1.0, 1.0))
    assert sorted(np.unique(batch).tolist()) == [-1.0, 1.0]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((32, 32), np.uint8), r"got \(32, 32\)"),
        (np.zeros((2, 3, 28, 28), np.uint8), r"got \(2, 3, 28, 28\)"),
        (np.full((28, 28), 255.0), r"values in \[255, 255\]. Divide 0-255 pixels by 255"),
        (np.full((28, 28), -0.5), "float images must hold values in"),
        (np.full((28, 28), np.nan), "float images must hold values in"),
        (np.full((28, 28), 300), r"integer images must hold values in \[0, 255\]"),
        (np.full((28, 28), "a"), "unsupported pixel type"),
    ],
)
def test_bad_input_says_what_to_do(array: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        to_model_input(array)
