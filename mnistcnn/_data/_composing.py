"""Handwritten numbers composed on the fly from single MNIST digits: the reader's training data.

Each line takes the next few digits of the epoch's order and writes them side by side the ways
people do: touching and overlapping their neighbours or far apart, slanted, at varied size,
stroke width, aspect and baseline; then the line is printed on paper (contrast, blur, noise,
sometimes JPEG) and read back through the same ink extraction and :func:`line_input` as a
user's picture. Only training digits go in: the held-out checks compose lines from the USPS
scans with a generator of their own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .._input._lines import LINE_HEIGHT, STRIDE, line_input
from .._input._pictures import ink_map

__all__ = ["LineBatch", "compose_batch", "split_into_lines"]

_GLYPH_HEIGHT = 40  # pixels a digit is drawn at before the line is normalised
_LONGEST = 8


@dataclass(frozen=True)
class LineBatch:
    """Composed lines, padded to the widest: what one training step consumes.

    Attributes:
        images: float32 (n, 1, LINE_HEIGHT, W).
        targets: int32 (n, longest) class indices (digit + 1), padded with 0.
        target_lengths: int64 (n,) digits per line.
        input_lengths: int64 (n,) output columns each line's own width gives.
    """

    images: np.ndarray
    targets: np.ndarray
    target_lengths: np.ndarray
    input_lengths: np.ndarray


def split_into_lines(count: int, rng: np.random.Generator) -> list[int]:
    """Digits per line for ``count`` digits: 1 to 8, mostly 4 to 7, summing to ``count``."""
    sizes: list[int] = []
    left = count
    while left > 0:
        size = int(rng.choice(np.arange(1, _LONGEST + 1), p=_LENGTH_WEIGHTS))
        sizes.append(min(size, left))
        left -= sizes[-1]
    return sizes


_LENGTH_WEIGHTS = np.array([4, 6, 8, 12, 16, 18, 18, 18], dtype=np.float64)
_LENGTH_WEIGHTS /= _LENGTH_WEIGHTS.sum()


def compose_batch(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> LineBatch:
    """Lines made of ``digits`` (uint8 (n, 28, 28), MNIST form) in order, ``labels`` their
    digits; every digit is used once."""
    lines, targets = [], []
    start = 0
    for size in split_into_lines(len(digits), rng):
        chosen = slice(start, start + size)
        lines.append(_compose_line(digits[chosen], rng))
        targets.append(labels[chosen].astype(np.int32) + 1)
        start += size
    width = max(line.shape[1] for line in lines)
    images = np.zeros((len(lines), 1, LINE_HEIGHT, width), dtype=np.float32)
    padded_targets = np.zeros((len(lines), max(len(t) for t in targets)), dtype=np.int32)
    for index, (line, target) in enumerate(zip(lines, targets, strict=True)):
        images[index, 0, :, : line.shape[1]] = line
        padded_targets[index, : len(target)] = target
    return LineBatch(
        images=images,
        targets=padded_targets,
        target_lengths=np.array([len(t) for t in targets], dtype=np.int64),
        input_lengths=np.array([line.shape[1] // STRIDE for line in lines], dtype=np.int64),
    )


def _compose_line(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    slant = rng.uniform(-0.35, 0.35)
    size = _GLYPH_HEIGHT * rng.uniform(0.85, 1.15)
    thickness = rng.choice([-1, 0, 0, 1, 2], p=[0.15, 0.35, 0.2, 0.2, 0.1])
    spacing = rng.choice(["touching", "close", "apart"], p=[0.5, 0.3, 0.2])
    glyphs = [_glyph(d, size, slant, int(thickness), rng) for d in digits]
    height = int(max(g.shape[0] for g in glyphs) * 1.6) + 8
    width = sum(g.shape[1] for g in glyphs) + int(size) * (len(glyphs) + 2)
    canvas = np.zeros((height, width), dtype=np.float32)
    x = int(rng.integers(4, int(size)))
    for glyph in glyphs:
        glyph_height, glyph_width = glyph.shape
        y = int(np.clip((height - glyph_height) / 2 + rng.normal(0, 0.06 * size), 0, None))
        y = min(y, height - glyph_height)
        region = canvas[y : y + glyph_height, x : x + glyph_width]
        np.maximum(region, glyph, out=region)
        if spacing == "touching":
            gap = rng.uniform(-0.4, 0.0) * glyph_width
        elif spacing == "close":
            gap = rng.uniform(0.0, 0.25) * size
        else:
            gap = rng.uniform(0.2, 0.9) * size
        x = max(x + round(float(glyph_width + gap)), 0)
    canvas = canvas[:, : min(width, x + int(size))]
    return line_input(_print_and_read(canvas, rng))[0]


def _glyph(
    digit: np.ndarray, size: float, slant: float, thickness: int, rng: np.random.Generator
) -> np.ndarray:
    """One digit's ink cropped, resized, slanted and thickened or thinned."""
    ink = digit.astype(np.float32) / 255
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height = max(4, round(float(size * rng.uniform(0.9, 1.1))))
    width = max(2, round(float(ink.shape[1] * height / ink.shape[0] * rng.uniform(0.8, 1.25))))
    shear = slant + rng.normal(0, 0.05)
    pad = int(abs(shear) * height) + 2
    image = Image.fromarray(ink, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    wide = Image.new("F", (width + 2 * pad, height))
    wide.paste(image, (pad, 0))
    slanted = wide.transform(
        wide.size,
        Image.Transform.AFFINE,
        (1, shear, -shear * height / 2, 0, 1, 0),
        Image.Resampling.BILINEAR,
    )
    glyph = np.asarray(slanted, dtype=np.float32)
    if thickness > 0:
        glyph = ndimage.grey_dilation(glyph, size=(thickness + 1, thickness + 1))
    elif thickness < 0:
        glyph = np.maximum(ndimage.grey_erosion(glyph, size=(2, 2)), glyph * 0.5)
    cols = np.flatnonzero(glyph.max(axis=0) > 0.1)
    return np.clip(glyph[:, cols[0] : cols[-1] + 1], 0.0, 1.0)


def _print_and_read(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink on paper as a scanner or camera gives it, then extracted as a user's picture is."""
    paper = rng.uniform(0.7, 1.0)
    darkness = rng.uniform(0.55, 0.95)
    blurred = ndimage.gaussian_filter(ink, rng.uniform(0.0, 1.3)) if rng.random() < 0.6 else ink
    grey = paper * (1 - darkness * np.clip(blurred, 0, 1))
    grey = grey + rng.normal(0, rng.uniform(0.0, 0.04), grey.shape)
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        pixels = np.round(np.clip(grey, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(rng.integers(30, 90)))
        grey = np.asarray(Image.open(buffer), dtype=np.float32) / 255
    return ink_map(np.clip(grey, 0, 1).astype(np.float32))
