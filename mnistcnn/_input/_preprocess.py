"""The one definition of what the network sees.

Training, evaluation, prediction, export and the CLI all turn pixels into network input here, so
the convention cannot drift between them (the original tutorial trained on [0, 1] and ran its
static model on [-1, 1]). The convention is written into every saved model's metadata.
"""

from __future__ import annotations

import numpy as np

from .._errors import ImageError, ImageTypeError

IMAGE_SIZE = 28
INPUT_SHAPE = (1, IMAGE_SIZE, IMAGE_SIZE)
"""Shape of one network input: (channels, height, width)."""

DEFAULT_VALUE_RANGE = (0.0, 1.0)
"""Pixel values as the network receives them: background 0.0, full ink 1.0 (``ToTensor``)."""

_TO_UNIT = np.float32(1 / 255)


def to_model_input(
    images: np.ndarray, *, value_range: tuple[float, float] = DEFAULT_VALUE_RANGE
) -> np.ndarray:
    """Turn MNIST-style pixels into a float32 batch of shape (n, 1, 28, 28).

    The result is always a new array: writing into it never changes ``images``.

    Args:
        images: uint8 pixels in [0, 255], or floats already in [0, 1]; light ink on a dark
            background, shaped (28, 28), (n, 28, 28) or (n, 1, 28, 28).
        value_range: the values the network expects for background and full ink.

    Returns:
        float32 array of shape (n, 1, 28, 28).

    Raises:
        ImageError: if the shape or the value range is not one of the above.
        ImageTypeError: if the pixels are not numbers (strings, objects, complex numbers).

    Examples:
        >>> import numpy as np
        >>> batch = to_model_input(np.full((2, 28, 28), 255, dtype=np.uint8))
        >>> batch.shape, batch.dtype, float(batch.max())
        ((2, 1, 28, 28), dtype('float32'), 1.0)
    """
    array = np.asarray(images)
    if (
        array.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE)
        or array.ndim not in (2, 3, 4)
        or (array.ndim == 4 and array.shape[1] != 1)
    ):
        raise ImageError(
            f"expected images shaped (28, 28), (n, 28, 28) or (n, 1, 28, 28); got {array.shape}. "
            "Pass pictures of other sizes as PIL images or file paths so that they are normalised."
        )
    unit = unit_pixels(array).reshape(-1, *INPUT_SHAPE)
    return scale_to(unit, value_range)


def unit_pixels(array: np.ndarray) -> np.ndarray:
    """``array``'s pixels as a new C-contiguous float32 array in [0, 1] (0 = black, 1 = white).

    The one conversion of pixel values: integers are divided by 255, floats must already be in
    [0, 1], booleans are 0 or 1. Every input form goes through it, so the same picture gives the
    same numbers whichever way it arrives.

    Raises:
        ImageError: NaN, infinity, or values outside [0, 255] (integers) or [0, 1] (floats).
        ImageTypeError: the pixels are not real numbers.
    """
    kind = array.dtype.kind
    if kind == "u" and array.dtype.itemsize == 1:
        unit: np.ndarray = array.astype(np.float32)  # then scaled in place: the same numbers as
        unit *= _TO_UNIT  # np.multiply(array, _TO_UNIT, dtype=np.float32), in cheaper calls
        return unit
    if kind in "iu":
        if array.size:
            low, high = array.min(), array.max()
            if low < 0 or high > 255:
                raise ImageError(
                    f"integer images must hold values in [0, 255]; got values in [{low}, {high}]. "
                    "Scale other ranges to 0-255 (16-bit pixels: pixels // 257), or pass floats "
                    "in [0, 1]."
                )
        unit = np.multiply(array, _TO_UNIT, dtype=np.float32)
        return unit
    if kind == "b":
        return array.astype(np.float32)
    if kind == "f":
        # Checked before the cast, which would overflow (with a warning) for huge float64s.
        if array.size:
            low, high = array.min(), array.max()
            if not (low >= 0.0 and high <= 1.0):  # NaN fails both comparisons
                if not np.isfinite(array).all():
                    raise ImageError(
                        "float images must hold values in [0, 1]; got NaN or infinity."
                    )
                raise ImageError(
                    f"float images must hold values in [0, 1]; got values in "
                    f"[{low:g}, {high:g}]. Divide 0-255 pixels by 255, or pass them as uint8."
                )
        return array.astype(np.float32)  # always a copy: the caller's array is never written
    raise ImageTypeError(
        f"unsupported pixel type {array.dtype}; pass integers in [0, 255] or floats in [0, 1]."
    )


def scale_to(unit: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """``unit`` pixels (in [0, 1]) mapped to the network's ``value_range``."""
    low, high = value_range
    if (low, high) == (0.0, 1.0):
        return unit
    result: np.ndarray = unit * np.float32(high - low) + np.float32(low)
    return result
