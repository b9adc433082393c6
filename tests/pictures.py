"""Realistic pictures made from real digits: what users photograph, scan and draw.

Every function is deterministic given its ``rng``; all start from real handwriting (MNIST test
digits or USPS envelope digits), never from fonts.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image

USPS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "usps" / "zip.test.gz"


def load_usps() -> tuple[np.ndarray, np.ndarray]:
    """USPS test digits as uint8 (n, 16, 16) ink (255 = ink) and int64 labels."""
    with gzip.open(USPS, "rt") as text:
        rows = np.loadtxt(text)
    ink = np.round((rows[:, 1:].reshape(-1, 16, 16) + 1) / 2 * 255).astype(np.uint8)
    return ink, rows[:, 0].astype(np.int64)


def photo_of(
    digit: np.ndarray,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (320, 240),
    glyph_sizes: tuple[int, int] = (70, 140),
) -> Image.Image:
    """A digit written in dark ink on paper, photographed off-centre: uneven lighting, a grey
    paper tone, sensor noise and JPEG compression, as an RGB image."""
    width, height = size
    glyph_size = int(rng.integers(*glyph_sizes))
    glyph = (
        np.asarray(
            Image.fromarray(digit).resize((glyph_size, glyph_size), Image.Resampling.BICUBIC),
            np.float32,
        )
        / 255
    )
    ink = np.zeros((height, width), np.float32)
    top = int(rng.integers(0, height - glyph_size))
    left = int(rng.integers(0, width - glyph_size))
    ink[top : top + glyph_size, left : left + glyph_size] = glyph
    paper = rng.uniform(0.75, 0.95)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    lighting = 1.0 - 0.35 * (np.cos(angle) * xs + np.sin(angle) * ys)  # a shadow across the sheet
    grey = (paper * (1 - 0.85 * np.clip(ink, 0, 1))) * lighting
    grey = grey + rng.normal(0, 0.025, grey.shape)
    rgb = np.stack([grey * 1.0, grey * 0.97, grey * 0.92], axis=-1)  # warm paper tint
    image = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
    return jpeg(image, quality=int(rng.integers(60, 90)))


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """A picture (or a uint8 array) as the bytes of a PNG file."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(image: Image.Image, *, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer)


def canvas_drawing(digit: np.ndarray, *, size: int = 280) -> Image.Image:
    """Black ink on a transparent canvas, as an HTML canvas or a drawing app exports it."""
    alpha = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    black = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    black.putalpha(alpha)
    return black


def number_picture(
    digits: list[np.ndarray], rng: np.random.Generator, *, touching: bool = False
) -> Image.Image:
    """Handwritten digits side by side, as on an envelope: varied size, spacing, baseline and
    slant, dark ink on light paper with noise and a few specks of dust."""
    height = 64
    pieces = []
    for digit in digits:
        scale = rng.uniform(0.85, 1.1)
        size = int(height * scale)
        glyph = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
        shear = rng.uniform(-0.2, 0.2)
        glyph = glyph.transform(
            glyph.size,
            Image.Transform.AFFINE,
            (1, shear, -shear * size / 2, 0, 1, 0),
            Image.Resampling.BILINEAR,
        )
        array = np.asarray(glyph, np.float32) / 255
        cols = np.flatnonzero(array.max(axis=0) > 0.1)
        pieces.append(array[:, cols[0] : cols[-1] + 1])
    total_width = sum(p.shape[1] for p in pieces) + 40 * len(pieces) + 60
    ink = np.zeros((height * 2, total_width), np.float32)
    x = 30
    for piece in pieces:
        y = int(height / 2 + rng.integers(-6, 7))
        region = ink[y : y + piece.shape[0], x : x + piece.shape[1]]
        region[:] = np.maximum(region, piece[: region.shape[0], : region.shape[1]])
        gap = int(rng.integers(-3, 1)) if touching else int(rng.integers(6, 20))
        x += piece.shape[1] + gap
    ink = ink[:, : x + 30]
    for _ in range(int(rng.integers(2, 6))):  # dust: specks of one to three pixels
        sy, sx = int(rng.integers(0, ink.shape[0] - 3)), int(rng.integers(0, ink.shape[1] - 3))
        ink[sy : sy + int(rng.integers(1, 3)), sx : sx + int(rng.integers(1, 3))] = 1.0
    grey = 0.92 * (1 - 0.85 * np.clip(ink, 0, 1)) + rng.normal(0, 0.02, ink.shape)
    return Image.fromarray(np.round(np.clip(grey, 0, 1) * 255).astype(np.uint8), "L")
