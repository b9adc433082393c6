"""Held-out whole numbers written with the USPS envelope digits: writers MNIST never saw.

Three kinds, as the reading issue names them: digits apart, digits touching or overlapping
their neighbours (slanted), and a Chinese envelope's postal code (six printed red or green boxes,
one digit in each, blue or black ink, photographed). This generator shares no code with the
reader's training composer (``mnistcnn._data._composing``), which writes MNIST training digits: the
glyphs, spacing, paper and camera are drawn here in a way of their own, so a figure measured on
these sets is not a figure of the training generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from tests.pictures import jpeg, load_usps

Kind = Literal["apart", "touching", "boxed"]
KINDS: tuple[Kind, ...] = ("apart", "touching", "boxed")


@dataclass(frozen=True)
class Number:
    """One held-out picture, the digits written in it, and the USPS indices they came from."""

    picture: Image.Image
    text: str
    sources: tuple[int, ...]


def numbers(kind: Kind, count: int, seed: int) -> Iterator[Number]:
    """``count`` pictures of ``kind``; the same ``seed`` gives the same pictures."""
    digits, labels = load_usps()
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    for _ in range(count):
        length = 6 if kind == "boxed" else int(rng.integers(5, 7))
        chosen = rng.choice(len(digits), length, replace=False)
        text = "".join(str(int(labels[i])) for i in chosen)
        glyphs = [digits[i] for i in chosen]
        if kind == "boxed":
            picture = boxed_number(glyphs, rng)
        else:
            picture = _handwritten_line(glyphs, rng, touching=kind == "touching")
        yield Number(picture, text, tuple(int(i) for i in chosen))


def _usps_glyph(digit: np.ndarray, height: int, slant: float) -> np.ndarray:
    """A USPS digit (uint8 16x16, 255 = ink) enlarged to ``height`` rows and slanted, cropped
    to its ink; float32 ink in [0, 1]."""
    big = Image.fromarray(digit).resize((height, height), Image.Resampling.BICUBIC)
    pad = int(abs(slant) * height) + 1
    canvas = Image.new("L", (height + 2 * pad, height))
    canvas.paste(big, (pad, 0))
    slanted = canvas.transform(
        canvas.size,
        Image.Transform.AFFINE,
        (1, slant, -slant * height / 2, 0, 1, 0),
        Image.Resampling.BICUBIC,
    )
    ink = np.asarray(slanted, np.float32) / 255
    cols = np.flatnonzero(ink.max(axis=0) > 0.15)
    rows = np.flatnonzero(ink.max(axis=1) > 0.15)
    return np.clip(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 0, 1)


def _handwritten_line(
    digits: list[np.ndarray], rng: np.random.Generator, *, touching: bool
) -> Image.Image:
    height = int(rng.integers(36, 72))
    slant = rng.uniform(-0.35, 0.35) if touching else rng.uniform(-0.2, 0.2)
    glyphs = [
        _usps_glyph(d, int(height * rng.uniform(0.88, 1.1)), slant + rng.normal(0, 0.04))
        for d in digits
    ]
    width = sum(g.shape[1] for g in glyphs) + height * (len(glyphs) + 2)
    ink = np.zeros((height * 2, width), np.float32)
    x = int(rng.integers(height // 3, height))
    for glyph in glyphs:
        y = int(
            np.clip(height / 2 + rng.normal(0, height * 0.05), 0, ink.shape[0] - glyph.shape[0])
        )
        region = ink[y : y + glyph.shape[0], x : x + glyph.shape[1]]
        np.maximum(region, glyph[: region.shape[0], : region.shape[1]], out=region)
        if touching:
            step = glyph.shape[1] * (1 - rng.uniform(0.02, 0.22))  # strokes meet or overlap
        else:
            step = glyph.shape[1] + height * rng.uniform(0.15, 0.7)
        x += round(float(step))
    ink = ink[:, : x + height // 2]
    return _on_paper(ink, rng)


def _on_paper(ink: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Dark ink on greyish paper, a shadow across it, sensor noise, some dust, JPEG."""
    height, width = ink.shape
    for _ in range(int(rng.integers(0, 5))):
        y, x = int(rng.integers(0, height - 2)), int(rng.integers(0, width - 2))
        ink[y : y + 2, x : x + int(rng.integers(1, 3))] = rng.uniform(0.5, 1.0)
    paper = rng.uniform(0.78, 0.97)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1 - rng.uniform(0.0, 0.3) * (np.cos(angle) * xs + np.sin(angle) * ys)
    grey = paper * (1 - rng.uniform(0.7, 0.92) * ink) * light + rng.normal(0, 0.02, ink.shape)
    image = Image.fromarray(np.round(np.clip(grey, 0, 1) * 255).astype(np.uint8), "L")
    return jpeg(image, quality=int(rng.integers(55, 92))) if rng.random() < 0.6 else image


_PRINT = {"red": (214, 48, 49), "green": (32, 150, 72)}
_BLACK_PRINT = (40, 40, 46)  # for forms printed in the ink's own colour; not in the held-out kinds
_INKS = {"blue": (28, 44, 150), "black": (28, 28, 34)}


def boxed_number(
    digits: list[np.ndarray | None],
    rng: np.random.Generator,
    *,
    grid: bool = False,
    colour: str | None = None,
) -> Image.Image:
    """Printed boxes, one digit written in each (``None``: the box is left empty),
    photographed: separate boxes as on a Chinese envelope, or a grid whose boxes share their
    lines as on a remittance slip."""
    count = len(digits)
    box = int(rng.integers(44, 80))
    line = max(2, round(float(box * rng.uniform(0.03, 0.06))))
    gap = -line if grid else int(box * rng.uniform(0.15, 0.4))
    margin = box // 2
    width = 2 * margin + count * box + (count - 1) * gap
    height = 2 * margin + box
    paper = np.array([rng.uniform(225, 250), rng.uniform(215, 245), rng.uniform(195, 240)])
    colour_name = colour if colour is not None else str(rng.choice(list(_PRINT)))
    print_colour = np.array(_PRINT.get(colour_name, _BLACK_PRINT), np.float32)
    print_colour = np.clip(print_colour + rng.normal(0, 12, 3), 0, 255)
    ink_colour = np.array(_INKS[str(rng.choice(list(_INKS)))], np.float32)
    printed = Image.new("L", (width, height))
    draw = ImageDraw.Draw(printed)
    ink = np.zeros((height, width), np.float32)
    for index, digit in enumerate(digits):
        left = margin + index * (box + gap)
        draw.rectangle([left, margin, left + box - 1, margin + box - 1], outline=255, width=line)
        if digit is None:
            continue
        glyph = _usps_glyph(digit, int(box * rng.uniform(0.6, 0.95)), rng.uniform(-0.2, 0.2))
        glyph_height, glyph_width = glyph.shape
        # Mostly inside its box; a stroke may run over the printed line.
        top = margin + int(rng.integers(-box // 10, max(1, box - glyph_height + box // 10)))
        start = left + (box - glyph_width) // 2 + int(rng.integers(-box // 8, box // 8 + 1))
        top = int(np.clip(top, 0, height - glyph_height))
        start = int(np.clip(start, 0, width - glyph_width))
        region = ink[top : top + glyph_height, start : start + glyph_width]
        np.maximum(region, glyph, out=region)
    printed_mask = np.asarray(printed.filter(ImageFilter.GaussianBlur(0.6)), np.float32) / 255
    rgb = np.ones((height, width, 3), np.float32) * paper
    rgb = rgb * (1 - printed_mask[..., None]) + print_colour * printed_mask[..., None]
    strength = rng.uniform(0.8, 0.95) * ink[..., None]
    rgb = rgb * (1 - strength) + ink_colour * strength  # ink lies over the print
    ys, xs = np.mgrid[0:height, 0:width] / width
    angle = rng.uniform(0, 2 * np.pi)
    light = 1 - rng.uniform(0.0, 0.25) * (np.cos(angle) * xs + np.sin(angle) * ys)
    rgb = rgb * light[..., None] + rng.normal(0, 4, rgb.shape)
    image = Image.fromarray(np.round(np.clip(rgb, 0, 255)).astype(np.uint8), "RGB")
    return jpeg(image, quality=int(rng.integers(60, 92)))
