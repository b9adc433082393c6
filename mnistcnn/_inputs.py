"""Accepting images in every form users have them, streamed as fixed-size model batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Literal, TypeAlias

import numpy as np
from PIL import Image

from ._errors import ImageError
from ._pictures import picture_to_array
from ._preprocess import IMAGE_SIZE, to_model_input

Picture: TypeAlias = str | os.PathLike[str] | Image.Image | np.ndarray
Images: TypeAlias = Picture | Sequence[Picture]
"""One image or many: arrays shaped (28, 28), (n, 28, 28) or (n, 1, 28, 28) (uint8 in
[0, 255] or floats in [0, 1], light ink on black, as in MNIST), PIL images, file paths, or
picture arrays of any other size."""

Preprocess = Literal["auto", "normalize", "raw"]
PREPROCESS_CHOICES: tuple[Preprocess, ...] = ("auto", "normalize", "raw")


def _is_single(item: object) -> bool:
    return isinstance(item, (str, os.PathLike, Image.Image))


def _is_mnist_array(array: np.ndarray) -> bool:
    """Shaped like MNIST input: (28, 28), (n, 28, 28) or (n, 1, 28, 28)."""
    return (
        array.shape[-2:] == (IMAGE_SIZE, IMAGE_SIZE)
        and array.ndim in (2, 3, 4)
        and (array.ndim != 4 or array.shape[1] == 1)
    )


def count_and_batches(
    images: Images,
    *,
    batch_size: int,
    value_range: tuple[float, float],
    preprocess: Preprocess = "auto",
) -> tuple[int, Iterator[np.ndarray]]:
    """How many images ``images`` holds, and an iterator of float32 (b, 1, 28, 28) batches.

    Arrays are converted one batch at a time, so memory stays bounded by ``batch_size``
    whatever the number of images.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    if preprocess not in PREPROCESS_CHOICES:
        raise ValueError(
            f"preprocess must be one of {list(PREPROCESS_CHOICES)}; got {preprocess!r}."
        )
    if _is_single(images):
        items: Sequence[Picture] = [images]  # type: ignore[list-item]
    elif isinstance(images, np.ndarray) or hasattr(images, "__array__"):
        array = np.asarray(images)
        if not _is_mnist_array(array):
            if array.ndim in (2, 3):  # one picture of another size, grey or colour
                items = [array]
            else:
                raise ImageError(
                    "expected images shaped (28, 28), (n, 28, 28) or (n, 1, 28, 28), or one "
                    f"picture shaped (H, W) or (H, W, 3); got an array of shape {array.shape}."
                )
        elif preprocess == "normalize":
            items = list(array.reshape(-1, IMAGE_SIZE, IMAGE_SIZE))
        else:
            stack = array[None] if array.ndim == 2 else array

            def array_batches() -> Iterator[np.ndarray]:
                for start in range(0, len(stack), batch_size):
                    unit = to_model_input(stack[start : start + batch_size])
                    if preprocess == "auto":
                        # A 28x28 picture that is not MNIST-like (dark ink on white, say) is
                        # normalised; MNIST-style ones pass untouched.
                        for i in np.flatnonzero(~mnist_like(unit)):
                            unit[i, 0] = as_mnist(_to_uint8(unit[i, 0]), "normalize")
                    yield _scale(unit, value_range)

            return len(stack), array_batches()
    elif isinstance(images, Sequence):
        items = images
    else:
        raise ImageError(
            f"cannot read images from {type(images).__name__}; pass an array, a PIL image, "
            "a file path, or a list of those."
        )

    def item_batches() -> Iterator[np.ndarray]:
        for start in range(0, len(items), batch_size):
            chunk = [as_mnist(item, preprocess) for item in items[start : start + batch_size]]
            yield _scale(to_model_input(np.stack(chunk)), value_range)

    return len(items), item_batches()


def as_mnist(item: Picture, preprocess: Preprocess = "auto") -> np.ndarray:
    """One image as MNIST-style (28, 28) floats in [0, 1] (light ink on black)."""
    if isinstance(item, np.ndarray) and _is_mnist_array(item) and item.size == IMAGE_SIZE**2:
        unit = to_model_input(item)
        if preprocess == "raw" or (preprocess == "auto" and mnist_like(unit)[0]):
            plain: np.ndarray = unit[0, 0]
            return plain
        item = _to_uint8(unit[0, 0])
    elif not (_is_single(item) or isinstance(item, np.ndarray)):
        raise ImageError(f"cannot read an image from {type(item).__name__}.")
    normalise = {"auto": None, "normalize": True, "raw": False}[preprocess]
    pixels = picture_to_array(item, normalise=normalise)
    result: np.ndarray = pixels.astype(np.float32) / np.float32(255)
    return result


def mnist_like(unit: np.ndarray) -> np.ndarray:
    """Per image of a (n, 1, 28, 28) batch in [0, 1]: a dark outer ring of pixels (mean below
    0.3; at most 0.034 on all 70,000 MNIST digits), rather than dark ink on a light ground."""
    plane = unit[:, 0]
    ring = plane[:, [0, -1], :].sum(axis=(1, 2)) + plane[:, 1:-1, [0, -1]].sum(axis=(1, 2))
    result: np.ndarray = ring < 0.3 * (4 * IMAGE_SIZE - 4)
    return result


def _scale(unit: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    low, high = value_range
    if (low, high) == (0.0, 1.0):
        return unit
    result: np.ndarray = unit * np.float32(high - low) + np.float32(low)
    return result


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.round(unit * 255).astype(np.uint8)
    return result
