"""Turning a picture of one digit (a file, a PIL image, any size) into MNIST's 28x28 form.

MNIST digits are light ink on black, fitted into a 20x20 box (aspect ratio kept, anti-aliased)
and placed in a 28x28 field with their centre of mass at the centre. A model trained on them
is reliable only on input made the same way, so pictures are normalised like that here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._errors import ImageError
from ._preprocess import IMAGE_SIZE

MAX_PIXELS = 64_000_000
"""Larger pictures are refused (decompression bombs); a 3000x4000 photo has 12 million."""

_BOX = 20


def open_picture(source: str | os.PathLike[str] | Image.Image) -> Image.Image:
    """Open ``source`` as an upright PIL image, with a clear error for anything unreadable."""
    if isinstance(source, Image.Image):
        image = source
        name = "image"
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise ImageError(f"{path}: no such file.")
        try:
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(
                    f"{path}: {image.width}x{image.height} pixels is over the limit of "
                    f"{MAX_PIXELS:,}; scale the picture down first."
                )
            image.load()
        except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise ImageError(f"{path}: not a readable image ({exc}).") from exc
        except OSError as exc:
            raise ImageError(f"{path}: cannot be read as an image ({exc}).") from exc
    if image.width == 0 or image.height == 0:
        raise ImageError(f"{name}: the image is empty ({image.width}x{image.height}).")
    if image.width * image.height > MAX_PIXELS:
        raise ImageError(f"{name}: {image.width}x{image.height} pixels is over the limit.")
    return ImageOps.exif_transpose(image) or image


def picture_to_array(source: str | os.PathLike[str] | Image.Image) -> np.ndarray:
    """The 28x28 uint8 MNIST-style array (light ink on black) for a picture of one digit.

    Raises:
        ImageError: the picture cannot be read, or holds no ink.
    """
    image = open_picture(source)
    gray = _grayscale(image)
    background = float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    ink = gray - background if background < 0.5 else background - gray
    ink = np.clip(ink, 0.0, None)
    if gray.shape == (IMAGE_SIZE, IMAGE_SIZE) and background < 0.5:
        peak = float(ink.max())
        if peak <= 0:
            raise ImageError("the image holds no ink: it is blank.")
        pixels: np.ndarray = np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)
        return pixels
    return _normalise(ink)


def _grayscale(image: Image.Image) -> np.ndarray:
    """Luminance in [0, 1]; transparent pixels become the colour that contrasts with the ink."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        return np.asarray(image.convert("L"), dtype=np.float64) / 255
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255
    lum = np.asarray(rgba.convert("L"), dtype=np.float64) / 255
    opaque = alpha > 0.5
    # Ink drawn on a transparent canvas: the background must be the opposite of the ink.
    ink_is_dark = not opaque.any() or float(np.median(lum[opaque])) < 0.5
    backdrop = 1.0 if ink_is_dark else 0.0
    result: np.ndarray = lum * alpha + backdrop * (1 - alpha)
    return result


def _otsu(values: np.ndarray) -> float:
    histogram, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    weights = histogram.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(weights)
    w1 = w0[-1] - w0
    m0 = np.cumsum(weights * centres)
    mean0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mean1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(centres[int(np.argmax(between))])


def _normalise(ink: np.ndarray) -> np.ndarray:
    peak = float(ink.max())
    if peak < 0.08:
        raise ImageError("the image holds no ink: it is blank or has almost no contrast.")
    ink = ink / peak
    threshold = max(_otsu(ink), 0.2)
    mask = ink > threshold
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = np.where(ink[top:bottom, left:right] > threshold * 0.5, ink[top:bottom, left:right], 0)
    height, width = crop.shape
    scale = _BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    glyph = Image.fromarray(np.round(crop * 255).astype(np.uint8)).resize(
        size, Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    small = np.asarray(glyph, dtype=np.float64)
    total = small.sum()
    if total <= 0:
        raise ImageError("the image holds no ink after scaling.")
    ys, xs = np.indices(small.shape)
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total
    top_left_y = round(IMAGE_SIZE / 2 - cy - 0.5)
    top_left_x = round(IMAGE_SIZE / 2 - cx - 0.5)
    top_left_y = min(max(top_left_y, 0), IMAGE_SIZE - small.shape[0])
    top_left_x = min(max(top_left_x, 0), IMAGE_SIZE - small.shape[1])
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float64)
    canvas[top_left_y : top_left_y + small.shape[0], top_left_x : top_left_x + small.shape[1]] = (
        small
    )
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)
