"""Turning pictures of digits (files, PIL images, arrays; any size, mode and lighting) into ink.

MNIST digits are light ink on black, fitted into a 20x20 box (aspect ratio kept, anti-aliased)
and placed in a 28x28 field with their centre of mass at the centre. A model trained on them is
reliable only on input made the same way, so every picture is normalised like that here:

1. read it upright (EXIF orientation), in any PIL mode; transparent pixels take the colour
   that contrasts with the ink (canvas drawings: black ink on transparent);
2. find the polarity from the border (dark ink on paper, or light ink on a dark background);
3. subtract the background, estimated by a grey-scale opening wider than any stroke, which
   removes uneven lighting and paper shade; smooth away sensor noise and JPEG artefacts;
4. threshold with Otsu's method and drop specks (small connected components);
5. crop the ink, fit it into 20x20, centre its mass in 28x28.

:mod:`mnistcnn._reading` reuses steps 1-4 to find the digits of a whole number.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from ._errors import ImageError
from ._preprocess import IMAGE_SIZE

MAX_PIXELS = 64_000_000
"""Larger pictures are refused (decompression bombs); a 3000x4000 photo has 12 million."""

WORKING_SIZE = 640
"""Larger pictures are reduced to this many pixels on their longer side before analysis."""

_BOX = 20
_MIN_CONTRAST = 0.12  # ink must differ from the paper by this much (of the full 0-1 range)


def open_picture(
    source: str | os.PathLike[str] | Image.Image, *, name: str | None = None
) -> Image.Image:
    """Open ``source`` as an upright PIL image, with a clear error for anything unreadable."""
    if isinstance(source, Image.Image):
        image, label = source, name or "image"
    else:
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise ImageError(f"{label}: no such file.")
        try:
            with warnings.catch_warnings():
                # Pillow only warns between its two limits; a warning is a refusal here too.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{label}: refused as a decompression bomb ({exc}).") from exc
        except UnidentifiedImageError as exc:
            raise ImageError(f"{label}: not a readable image (unknown format).") from exc
        except OSError as exc:
            raise ImageError(f"{label}: not a readable image ({exc}).") from exc
        try:
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(
                    f"{label}: {image.width}x{image.height} pixels is over the limit of "
                    f"{MAX_PIXELS:,}; scale the picture down first."
                )
            if image.format == "JPEG" and max(image.size) >= 2 * WORKING_SIZE:
                # Decode at a fraction of the size (1/2 to 1/8): a phone photo loads ~10x faster.
                scale = max(image.size) // WORKING_SIZE
                image.draft(image.mode, (image.width // scale, image.height // scale))
            image.load()  # reads the pixels and closes the file
        except OSError as exc:
            image.close()
            raise ImageError(f"{label}: not a readable image ({exc}).") from exc
        except BaseException:
            image.close()
            raise
    if image.width == 0 or image.height == 0:
        raise ImageError(f"{label}: the image is empty ({image.width}x{image.height} pixels).")
    if image.width * image.height > MAX_PIXELS:
        raise ImageError(
            f"{label}: {image.width}x{image.height} pixels is over the limit of {MAX_PIXELS:,}."
        )
    try:
        return ImageOps.exif_transpose(image) or image
    except (OSError, ValueError, SyntaxError):  # a damaged EXIF block: keep the pixels as they are
        return image


def grayscale(image: Image.Image) -> np.ndarray:
    """Luminance in [0, 1] as float32; transparency composited onto the colour opposite the ink.

    Pictures much larger than :data:`WORKING_SIZE` are first reduced by an integer factor
    (a box filter on the 8-bit pixels), which is where a phone photo's time would go.
    """
    factor = max(image.size) // WORKING_SIZE
    if factor >= 2:
        try:
            image = image.reduce(factor)
        except ValueError:  # modes reduce() does not take, such as "P" and "1"
            image = image.convert("RGBA" if "transparency" in image.info else "L").reduce(factor)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    if image.mode == "1":
        return np.asarray(image, dtype=np.float32)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        if image.mode == "CMYK":
            image = image.convert("RGB")
        return np.asarray(image.convert("L"), dtype=np.float32) / 255
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
    lum = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
    opaque = alpha > 0.5
    if opaque.all():
        return lum
    # Ink drawn on a transparent canvas: the backdrop must be the opposite of the ink.
    ink_is_dark = not opaque.any() or float(np.median(lum[opaque])) < 0.5
    backdrop = np.float32(1.0 if ink_is_dark else 0.0)
    result: np.ndarray = lum * alpha + backdrop * (1 - alpha)
    return result


def shrink(gray: np.ndarray, longest: int = WORKING_SIZE) -> tuple[np.ndarray, float]:
    """``gray`` shrunk (box filter) to at most ``longest`` pixels on its longer side; the scale."""
    height, width = gray.shape
    factor = max(height, width) / longest
    if factor <= 1:
        return gray, 1.0
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = Image.fromarray(gray, mode="F").resize(size, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32), 1 / factor


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1] (1 = full ink, 0 = paper) with background and noise removed.

    Raises:
        ImageError: the picture is blank (no ink stands out from the background).
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    inverted = float(np.median(border)) > 0.5
    ink = 1.0 - gray if inverted else gray.copy()
    height, width = ink.shape
    if min(height, width) >= 64:
        ink = ink - _background(ink)
    else:  # too small for the lighting to vary across it: one level for the whole picture
        ink = ink - np.float32(np.percentile(ink, 20))
    np.clip(ink, 0.0, None, out=ink)
    if min(height, width) >= 24:
        ink = ndimage.gaussian_filter(ink, sigma=min(height, width) / 400 + 0.5, truncate=2.0)
    peak = float(ink.max())  # after smoothing, so a lone noisy pixel does not set the scale
    if peak < _MIN_CONTRAST:
        raise ImageError("the picture holds no ink: it is blank, or has almost no contrast.")
    result: np.ndarray = np.clip(ink / peak, 0.0, 1.0)
    return result


def _background(ink: np.ndarray) -> np.ndarray:
    """The slowly varying background level under light ink (shade, uneven lighting).

    The 20th percentile of a window a third of the picture wide: strokes cover far less than
    80% of any such window, so it sees paper, even when the digit fills the picture. Computed
    on a copy shrunk to 24 pixels, then enlarged back and smoothed: well under a millisecond
    whatever the picture's size.
    """
    height, width = ink.shape
    scale = 24 / max(height, width)
    small_size = (max(2, round(width * scale)), max(2, round(height * scale)))
    small = np.asarray(Image.fromarray(ink, mode="F").resize(small_size, Image.Resampling.BOX))
    window = max(3, round(min(small.shape) / 3) | 1)
    level = ndimage.percentile_filter(small, 20, size=(window, window), mode="nearest")
    smooth = ndimage.uniform_filter(level, size=window, mode="nearest")
    background = Image.fromarray(smooth.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    result: np.ndarray = np.minimum(np.asarray(background, dtype=np.float32), ink.max())
    return result


def otsu_threshold(values: np.ndarray) -> float:
    """The threshold that best separates ``values`` (in [0, 1]) into two classes."""
    bins = 128
    index = np.clip((values.ravel() * bins).astype(np.int64), 0, bins - 1)
    weights = np.bincount(index, minlength=bins).astype(np.float64)
    centres = (np.arange(bins) + 0.5) / bins
    w0 = np.cumsum(weights)
    w1 = w0[-1] - w0
    m0 = np.cumsum(weights * centres)
    mean0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mean1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    return float(centres[int(np.argmax(w0 * w1 * (mean0 - mean1) ** 2))])


class Box:
    """Height and width of anything with ``top``, ``left``, ``bottom``, ``right`` (exclusive)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


@dataclass(frozen=True)
class Blob(Box):
    """One connected piece of ink: its bounding box (top, left, bottom, right; exclusive ends),
    its area in pixels and its label in the component image."""

    top: int
    left: int
    bottom: int
    right: int
    area: int
    label: int


def ink_blobs(ink: np.ndarray) -> tuple[np.ndarray, list[Blob]]:
    """Threshold ``ink`` and return the component image and its pieces, largest first."""
    threshold = min(max(otsu_threshold(ink), 0.25), 0.6)
    mask = ink > threshold
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ImageError("the picture holds no ink: it is blank.")
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    blobs = [
        Blob(box[0].start, box[1].start, box[0].stop, box[1].stop, int(areas[i + 1]), i + 1)
        for i, box in enumerate(ndimage.find_objects(labels))
        if box is not None
    ]
    blobs.sort(key=lambda blob: -blob.area)
    return labels, blobs


def digit_pieces(blobs: list[Blob]) -> list[Blob]:
    """The pieces of a single digit: the largest blob and every blob not negligible beside it
    (the detached bar of a 5 or a 7 is kept; dust and specks are not)."""
    largest = blobs[0].area
    return [blob for blob in blobs if blob.area >= max(0.06 * largest, 2)]


def to_mnist(ink: np.ndarray, labels: np.ndarray, pieces: list[Blob]) -> np.ndarray:
    """MNIST's form of the ink in ``pieces``: fitted into 20x20, mass centred in 28x28 (uint8)."""
    top = min(b.top for b in pieces)
    left = min(b.left for b in pieces)
    bottom = max(b.bottom for b in pieces)
    right = max(b.right for b in pieces)
    window = labels[top:bottom, left:right]
    keep = np.isin(window, [b.label for b in pieces])
    # The anti-aliased rim of the strokes lies just outside the thresholded mask: keep it too.
    keep = ndimage.binary_dilation(keep, iterations=max(1, round(max(window.shape) / 40)))
    glyph = np.where(keep, ink[top:bottom, left:right], 0.0).astype(np.float32)
    return fit_and_centre(glyph)


def fit_and_centre(glyph: np.ndarray) -> np.ndarray:
    """Scale ``glyph`` (ink in [0, 1]) into a 20x20 box, then centre its mass in 28x28 (uint8)."""
    height, width = glyph.shape
    scale = _BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(glyph, mode="F").resize(size, resample), dtype=np.float32)
    peak = float(small.max())
    if peak <= 0:
        raise ImageError("the picture holds no ink after scaling.")
    small = np.clip(small / max(peak, 1e-6) * 1.15, 0.0, 1.0)  # MNIST strokes saturate
    total = float(small.sum())
    ys, xs = np.indices(small.shape)
    centre_y = float((ys * small).sum()) / total
    centre_x = float((xs * small).sum()) / total
    top = min(max(round(IMAGE_SIZE / 2 - 0.5 - centre_y), 0), IMAGE_SIZE - small.shape[0])
    left = min(max(round(IMAGE_SIZE / 2 - 0.5 - centre_x), 0), IMAGE_SIZE - small.shape[1])
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    result: np.ndarray = np.round(canvas * 255).astype(np.uint8)
    return result


def looks_like_mnist(gray: np.ndarray) -> bool:
    """A 28x28 picture of light ink on a dark background: already in MNIST's form."""
    if gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
        return False
    ring = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return float(np.median(ring)) < 0.25 and float(gray.max()) > 0.5


def picture_to_array(
    source: str | os.PathLike[str] | Image.Image | np.ndarray, *, normalise: bool | None = None
) -> np.ndarray:
    """The 28x28 uint8 MNIST-style array (light ink on black) for a picture of one digit.

    Args:
        source: a file path, a PIL image, or a grey (H, W) / colour (H, W, 3|4) array
            (uint8, or floats in [0, 1]).
        normalise: ``None`` normalises everything but a 28x28 picture that is already in
            MNIST's form; ``True`` always normalises; ``False`` only resizes to 28x28.

    Raises:
        ImageError: the picture cannot be read, or holds no ink.
    """
    with naming(source):
        gray = grayscale(open_picture(as_image(source)))
        if normalise is False or (normalise is None and looks_like_mnist(gray)):
            if gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
                resized = Image.fromarray(gray, mode="F").resize(
                    (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX
                )
                gray = np.asarray(resized, dtype=np.float32)
            raw: np.ndarray = np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)
            return raw
        ink = ink_map(shrink(gray)[0])
        labels, blobs = ink_blobs(ink)
        return to_mnist(ink, labels, digit_pieces(blobs))


@contextlib.contextmanager
def naming(source: object) -> Iterator[None]:
    """Prefix an :class:`ImageError` raised inside with the file it is about, if not yet named."""
    try:
        yield
    except ImageError as exc:
        if isinstance(source, (str, os.PathLike)) and os.fspath(source) not in str(exc):
            raise ImageError(f"{os.fspath(source)}: {exc}") from exc
        raise


def as_image(
    source: str | os.PathLike[str] | Image.Image | np.ndarray,
) -> str | os.PathLike[str] | Image.Image:
    if not isinstance(source, np.ndarray):
        return source
    array = source
    if array.dtype != np.uint8:
        values = np.asarray(array, dtype=np.float32)
        if values.size and values.max() > 1.0:
            values = values / np.float32(255)
        array = np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(
            f"a picture array must be (H, W), (H, W, 3) or (H, W, 4); got {source.shape}."
        )
    return Image.fromarray(array)
