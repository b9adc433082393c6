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

:mod:`mnistcnn._reading._numbers` reuses steps 1-4 to find the digits of a whole number.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from .._errors import ImageError, ImageNotFoundError, ImageTypeError
from ._preprocess import IMAGE_SIZE, unit_pixels

MAX_PIXELS = 64_000_000
"""Larger pictures are refused (decompression bombs); a 3000x4000 photo has 12 million."""

MAX_FILE_BYTES = 256 * 1024**2
"""Larger ``bytes`` and file objects are refused before they are read in full."""

WORKING_SIZE = 640
"""Larger pictures are reduced to this many pixels on their longer side before analysis."""

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM", "ICO", "DIB", "PCX", "TGA")
"""The file formats read (JPEG includes MPO, the JPEG of many cameras; PPM includes PGM and
PBM). Pillow knows more, but some of those run external programs (EPS runs Ghostscript) or are
rarely seen outside old software: untrusted uploads stay within these."""

_BOX = 20
_MIN_CONTRAST = 0.12  # ink must differ from the paper by this much (of the full 0-1 range)


class BinaryReadable(Protocol):
    """Anything with a binary ``read()``: an open file, :class:`io.BytesIO`, an upload stream."""

    def read(self, size: int = ..., /) -> bytes: ...


PictureSource: TypeAlias = (
    str | os.PathLike[str] | Image.Image | bytes | bytearray | memoryview | BinaryReadable
)
"""A picture that is not an array: a file path, a PIL image, encoded bytes, a binary file object."""


def is_picture_source(item: object) -> bool:
    """Whether ``item`` is one picture given as a path, PIL image, bytes or binary file object."""
    return isinstance(
        item, (str, os.PathLike, Image.Image, bytes, bytearray, memoryview)
    ) or callable(getattr(item, "read", None))


def source_name(source: object) -> str | None:
    """The file name ``source`` stands for, if it has one (a path, or an open file's name)."""
    if isinstance(source, (str, os.PathLike)):
        return str(os.fspath(source))
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else None


def open_picture(source: PictureSource, *, name: str | None = None) -> Image.Image:
    """Open ``source`` as an upright PIL image, with a clear error for anything unreadable.

    Raises:
        ImageNotFoundError: ``source`` is a path to no file.
        ImageTypeError: ``source`` is none of the accepted types, or a text-mode file.
        ImageError: the data is not a picture in one of :data:`FORMATS`, is damaged, or is too
            large.
    """
    named = name or source_name(source)
    label = f"{named}: " if named else ""  # starts each message, naming the file if any
    image = source if isinstance(source, Image.Image) else _decode(_encoded(source, label), label)
    if image.width == 0 or image.height == 0:
        raise ImageError(f"{label}the image is empty ({image.width}x{image.height} pixels).")
    if image.width * image.height > MAX_PIXELS:
        raise ImageError(
            f"{label}{image.width}x{image.height} pixels is over the limit of {MAX_PIXELS:,}."
        )
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # a damaged EXIF block fails in many ways: keep the pixels as they are
        return image


def _encoded(source: object, label: str) -> Path | io.BytesIO:
    """The file to decode: a checked path, or the bytes of an in-memory picture or stream.

    ``label`` starts every error message (``"photo.png: "``, or ``""`` for unnamed data).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if not path.exists():
            raise ImageNotFoundError(f"{label}no such file. Check the path.")
        if not path.is_file():
            raise ImageError(f"{label}not a file (a directory?); pass the path of a picture.")
        return path
    if isinstance(source, memoryview):
        source = source.tobytes()
    elif not isinstance(source, (bytes, bytearray)):
        try:
            source = source.read(MAX_FILE_BYTES + 1)  # type: ignore[attr-defined]
        except (OSError, ValueError) as exc:  # a closed file, a broken stream
            raise ImageError(f"{label}could not be read ({exc}).") from exc
        if isinstance(source, str):
            raise ImageTypeError(f"{label}opened in text mode; open the file with 'rb'.")
        if not isinstance(source, (bytes, bytearray)):
            raise ImageTypeError(
                f"{label}read() returned {type(source).__name__}, not bytes; pass a file "
                "opened in binary mode, bytes, or a path."
            )
    if len(source) > MAX_FILE_BYTES:
        raise ImageError(
            f"{label}more than {MAX_FILE_BYTES:,} bytes, too large for one picture of a digit."
        )
    return io.BytesIO(source)


def _decode(file: Path | io.BytesIO, label: str) -> Image.Image:
    """Decode a picture, refusing bombs before their pixels are read."""
    try:
        # A picture between Pillow's two limits also makes Pillow warn (an error under a
        # strict warnings filter, caught below); the warning is not silenced here because
        # warnings.catch_warnings is not thread-safe. It is refused below either way.
        image = Image.open(file, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{label}refused as a decompression bomb ({exc}).") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label}not a readable image (not one of {', '.join(FORMATS)}).") from exc
    except Exception as exc:  # Pillow's parsers fail in many ways on damaged or hostile data
        raise ImageError(f"{label}not a readable image ({exc}).") from exc
    try:
        if image.width * image.height > MAX_PIXELS:
            raise ImageError(
                f"{label}{image.width}x{image.height} pixels is over the limit of "
                f"{MAX_PIXELS:,}; scale the picture down first."
            )
        if image.format == "JPEG" and max(image.size) >= 2 * WORKING_SIZE:
            # Decode at a fraction of the size (1/2 to 1/8): a phone photo loads ~10x faster.
            scale = max(image.size) // WORKING_SIZE
            image.draft(image.mode, (image.width // scale, image.height // scale))
        image.load()  # reads the pixels and closes the file
    except ImageError:
        image.close()
        raise
    except Exception as exc:  # as above: truncated data, bad chunks, decoder errors
        image.close()
        raise ImageError(f"{label}not a readable image ({exc}).") from exc
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
        return unit_pixels(np.asarray(image.convert("L")))
    rgba = image.convert("RGBA")
    alpha = unit_pixels(np.asarray(rgba.getchannel("A")))
    lum = unit_pixels(np.asarray(rgba.convert("L")))
    opaque = alpha > 0.5
    if opaque.all():
        return lum
    # Ink drawn on a transparent canvas: the backdrop must be the opposite of the ink.
    ink_is_dark = not opaque.any() or float(np.median(lum[opaque])) < 0.5
    backdrop = np.float32(1.0 if ink_is_dark else 0.0)
    result: np.ndarray = lum * alpha + backdrop * (1 - alpha)
    return result


_COLOUR_MODES = ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "P")


def colour_pixels(image: Image.Image) -> np.ndarray | None:
    """RGB in [0, 1] as float32 (h, w, 3), the same size as :func:`grayscale` gives, for a
    picture that has colour; ``None`` for grey pictures and for ink on a transparent canvas
    (whose colour is not the paper's)."""
    if image.mode not in _COLOUR_MODES:
        return None
    if image.mode in ("RGBA", "P"):
        rgba = image.convert("RGBA")
        if int(np.asarray(rgba.getchannel("A")).min()) < 255:
            return None
        image = rgba
    factor = max(image.size) // WORKING_SIZE
    rgb = image.convert("RGB")
    if factor >= 2:
        rgb = rgb.reduce(factor)
    result: np.ndarray = np.asarray(rgb, dtype=np.float32) / np.float32(255)
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
    pieces = [blob for blob in blobs if blob.area >= max(0.06 * largest, 2)]
    if not pieces:  # found by the property-based tests: a lone pixel of ink
        raise ImageError("the picture holds no ink but specks of single pixels: no digit.")
    return pieces


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


def normalise(gray: np.ndarray) -> np.ndarray:
    """MNIST's form (uint8 (28, 28), light ink on black) of a grey picture of one digit.

    Raises:
        ImageError: the picture holds no ink.
    """
    ink = ink_map(shrink(gray)[0])
    labels, blobs = ink_blobs(ink)
    return to_mnist(ink, labels, digit_pieces(blobs))


def resize_to_mnist(gray: np.ndarray) -> np.ndarray:
    """A grey picture only resized to 28x28 (a box filter), as uint8: no other change."""
    if gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
        resized = Image.fromarray(gray, mode="F").resize(
            (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX
        )
        gray = np.asarray(resized, dtype=np.float32)
    result: np.ndarray = np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)
    return result
