"""The one definition of what the network sees.

Training, evaluation, prediction, export and the CLI all turn pixels into network input here, so
the convention cannot drift between them (the original tutorial trained on [0, 1] and ran its
static model on [-1, 1]). The convention is written into every saved model's metadata.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 28
INPUT_SHAPE = (1, IMAGE_SIZE, IMAGE_SIZE)
"""Shape of one network input: (channels, height, width)."""

DEFAULT_VALUE_RANGE = (0.0, 1.0)
"""Pixel values as the network receives them: background 0.0, full ink 1.0 (``ToTensor``)."""


def to_model_input(
    images: np.ndarray, *, value_range: tuple[float, float] = DEFAULT_VALUE_RANGE
) -> np.ndarray:
    """Turn MNIST-style pixels into a float32 batch of shape (n, 1, 28, 28).

    Args:
        images: uint8 pixels in [0, 255], or floats already in [0, 1]; light ink on a dark
            background, shaped (28, 28), (n, 28, 28) or (n, 1, 28, 28).
        value_range: the values the network expects for background and full ink.

    Returns:
        float32 array of shape (n, 1, 28, 28).

    Raises:
        ImageError: if the shape or the value range is not one of the above.

    Examples:
        >>> import numpy as np
        >>> batch = to_model_input(np.full((2, 28, 28), 255, dtype=np.uint8))
        >>> batch.shape, batch.dtype, float(batch.max())
        ((2, 1, 28, 28), dtype('float32'), 1.0)
    """
    from ._errors import ImageError

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
    if np.issubdtype(array.dtype, np.integer):
        if array.dtype != np.uint8 and array.size and (array.min() < 0 or array.max() > 255):
            raise ImageError(
                f"integer images must hold values in [0, 255]; got values in "
                f"[{array.min()}, {array.max()}]."
            )
        unit = array.astype(np.float32) * np.float32(1 / 255)
    elif np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_:
        unit = array.astype(np.float32, copy=False)
        if not np.isfinite(unit).all():
            raise ImageError("float images must hold values in [0, 1]; got NaN or infinity.")
        if unit.size and (unit.min() < 0.0 or unit.max() > 1.0):
            raise ImageError(
                f"float images must hold values in [0, 1]; got values in "
                f"[{unit.min():g}, {unit.max():g}]. Divide 0-255 pixels by 255, or "
                "pass them as uint8."
            )
    else:
        raise ImageError(
            f"unsupported pixel type {array.dtype}; pass integers in [0, 255] or floats in [0, 1]."
        )
    low, high = value_range
    if (low, high) != (0.0, 1.0):
        unit = unit * np.float32(high - low) + np.float32(low)
    return np.ascontiguousarray(unit.reshape(-1, *INPUT_SHAPE), dtype=np.float32)
