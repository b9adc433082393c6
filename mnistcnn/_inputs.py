"""Accepting images in every form users have them, streamed as fixed-size model batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TypeAlias

import numpy as np
from PIL import Image

from ._errors import ImageError
from ._pictures import picture_to_array
from ._preprocess import IMAGE_SIZE, to_model_input

Picture: TypeAlias = str | os.PathLike[str] | Image.Image | np.ndarray
Images: TypeAlias = Picture | Sequence[Picture]
"""One image or many: arrays shaped (28, 28), (n, 28, 28) or (n, 1, 28, 28) (uint8 in
[0, 255] or floats in [0, 1], light ink on black, as in MNIST), PIL images, or file paths."""


def _is_single(item: object) -> bool:
    return isinstance(item, (str, os.PathLike, Image.Image))


def _is_single_picture_array(images: object) -> bool:
    """A grey (H, W) or colour (H, W, 3|4) picture array that is not already MNIST's 28x28."""
    if not isinstance(images, np.ndarray):
        return False
    grey = images.ndim == 2 and images.shape != (IMAGE_SIZE, IMAGE_SIZE)
    colour = images.ndim == 3 and images.shape[-1] in (3, 4) and images.shape[1:] != (28, 28)
    return grey or colour


def count_and_batches(
    images: Images, *, batch_size: int, value_range: tuple[float, float]
) -> tuple[int, Iterator[np.ndarray]]:
    """How many images ``images`` holds, and an iterator of float32 (b, 1, 28, 28) batches.

    Arrays are converted one batch at a time, so memory stays bounded by ``batch_size``
    whatever the number of images.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    if _is_single(images) or _is_single_picture_array(images):
        items: Sequence[Picture] = [images]  # type: ignore[list-item]
    elif isinstance(images, np.ndarray) or hasattr(images, "__array__"):
        array = np.asarray(images)
        if array.ndim == 2:
            array = array[None]
        if (
            array.ndim not in (3, 4)
            or array.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE)
            or (array.ndim == 4 and array.shape[1] != 1)
        ):
            raise ImageError(
                f"expected images shaped (28, 28), (n, 28, 28) or (n, 1, 28, 28); "
                f"got an array of shape {array.shape}."
            )

        def array_batches() -> Iterator[np.ndarray]:
            for start in range(0, len(array), batch_size):
                yield to_model_input(array[start : start + batch_size], value_range=value_range)

        return len(array), array_batches()
    elif isinstance(images, Sequence):
        items = images
    else:
        raise ImageError(
            f"cannot read images from {type(images).__name__}; pass an array, a PIL image, "
            "a file path, or a list of those."
        )

    def item_batches() -> Iterator[np.ndarray]:
        for start in range(0, len(items), batch_size):
            chunk = [_one(item) for item in items[start : start + batch_size]]
            yield to_model_input(np.stack(chunk), value_range=value_range)

    return len(items), item_batches()


def _one(item: Picture) -> np.ndarray:
    """One image as (28, 28) floats in [0, 1]."""
    if isinstance(item, np.ndarray) and item.shape in ((IMAGE_SIZE, IMAGE_SIZE), (1, 28, 28)):
        image: np.ndarray = to_model_input(item)[0, 0]
        return image
    if isinstance(item, np.ndarray):
        if item.ndim not in (2, 3):
            raise ImageError(f"an image array must be 2-D (or 3-D colour); got {item.shape}.")
        item = Image.fromarray(item if item.dtype == np.uint8 else _to_uint8(item))
    if not _is_single(item):
        raise ImageError(f"cannot read an image from {type(item).__name__}.")
    normalised: np.ndarray = to_model_input(picture_to_array(item))[0, 0]
    return normalised


def _to_uint8(array: np.ndarray) -> np.ndarray:
    values = array.astype(np.float64)
    if values.max() <= 1.0:
        values = values * 255
    return np.clip(np.round(values), 0, 255).astype(np.uint8)
