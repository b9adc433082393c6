"""Pictures of digits, drawn with Pillow alone (no plotting library needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def digit_grid(
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    predictions: Sequence[int] | np.ndarray | None = None,
    columns: int = 8,
    scale: int = 3,
) -> Image.Image:
    """A grid of digits, each captioned with its label (and prediction, red when wrong).

    Args:
        images: uint8 array of shape (n, 28, 28), light ink on black.
        labels: the true digit of each image.
        predictions: the predicted digit of each image, if any.
        columns: digits per row.
        scale: pixel magnification.

    Returns:
        An RGB :class:`PIL.Image.Image` showing dark ink on white, like the tutorial's plots.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be shaped (n, 28, 28); got {images.shape}.")
    count = len(images)
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    cell, caption = 28 * scale, 14
    sheet = Image.new("RGB", (columns * (cell + 4) + 4, rows * (cell + caption + 6) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, image in enumerate(images):
        x = 4 + (i % columns) * (cell + 4)
        y = 4 + (i // columns) * (cell + caption + 6)
        inverted = Image.fromarray(255 - image.astype(np.uint8))
        digit = inverted.resize((cell, cell), Image.Resampling.NEAREST)
        sheet.paste(digit.convert("RGB"), (x, y))
        text = f"{int(labels[i])}"
        colour = "black"
        if predictions is not None:
            text += f" -> {int(predictions[i])}"
            colour = "black" if int(predictions[i]) == int(labels[i]) else "red"
        draw.text((x + 2, y + cell + 2), text, fill=colour, font=font)
    return sheet
