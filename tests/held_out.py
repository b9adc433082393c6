"""Held-out whole numbers, generator one: real digits enlarged as bitmaps, on greyish paper.

Six kinds, as the reading issues name them: digits apart; touching or overlapping their
neighbours (slanted); a Chinese envelope's postal code (six printed red or green boxes, one digit
in each, blue or black ink, photographed); digits apart on a line tilted 4-15 degrees; touching
digits each at its own height (a line that drifts, climbs, curves or waves); and digits joined
by a connecting pen stroke. Each kind comes from two digit sources, the USPS test scans (writers
MNIST never saw) and the MNIST test digits; never from the MNIST training digits, which the
reader learns from.

This generator shares no code with the reader's training composer
(``mnistcnn._data._composing``): the glyphs, spacing, baselines, strokes, paper and camera are
drawn here in a way of their own, so a figure measured on these sets is not a figure of the
training generator. ``tests/held_out_pen.py`` is a second generator, different again: it redraws
each digit with a pen along its skeleton.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from tests.pictures import jpeg, load_usps

if TYPE_CHECKING:
    from mnistcnn import DigitClassifier

Kind = Literal["apart", "touching", "boxed", "tilted", "heights", "joined"]
KINDS: tuple[Kind, ...] = ("apart", "touching", "boxed", "tilted", "heights", "joined")
Source = Literal["usps", "mnist"]
SOURCES: tuple[Source, ...] = ("usps", "mnist")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Number:
    """One held-out picture and the digits written in it.

    Attributes:
        picture: the picture, as a user would pass it to ``read_digits``.
        text: the digits written, left to right.
        sources: the indices of those digits in their source (:func:`source_digits`).
        source: ``"usps"`` (USPS test scans) or ``"mnist"`` (MNIST test digits).
        boxes: each digit's box (left, top, right, bottom) in the picture, where the kind keeps
            the digits upright on an unrotated line (apart, touching, heights, joined); else ().
        alone: each digit as it was drawn into the picture, on its own, dark on white (before
            paper and camera): what :func:`drawn_ceiling` shows the classifier; () where the
            kind does not keep them (this generator's printed boxes).
    """

    picture: Image.Image
    text: str
    sources: tuple[int, ...]
    source: Source = "usps"
    boxes: tuple[Box, ...] = ()
    alone: tuple[Image.Image, ...] = ()


def check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


@functools.cache
def source_digits(source: Source) -> tuple[list[np.ndarray], np.ndarray]:
    """The digits of ``source`` as uint8 ink (255 = ink), each filling a square as a USPS scan
    fills its 16x16 (MNIST digits cropped to their ink and padded square), and their labels."""
    check_choice("source", source, SOURCES)
    if source == "usps":
        digits, labels = load_usps()
        return list(digits), labels
    test = _mnist_test()
    return [_square(image) for image in test.images], test.labels.astype(np.int64)


def digits_alone(source: Source, indices: Sequence[int]) -> np.ndarray:
    """The source digits as the digit classifier would be shown them one at a time: the USPS
    scans dark on white, the MNIST test digits as MNIST stores them."""
    check_choice("source", source, SOURCES)
    if source == "usps":
        digits, _ = load_usps()
        return 255 - digits[list(indices)]
    images: np.ndarray = _mnist_test().images[list(indices)]
    return images


def ceiling(classifier: DigitClassifier, items: Sequence[Number]) -> float:
    """Share of ``items`` whose every digit the classifier reads right when shown that source
    digit alone: the most a reader that classifies digit by digit could get exactly right."""
    right: dict[tuple[str, int], bool] = {}
    for source in sorted({item.source for item in items}):
        indices = sorted({i for item in items if item.source == source for i in item.sources})
        predicted = classifier.predict(digits_alone(source, indices))
        labels = source_digits(source)[1][indices]
        right.update(
            ((source, i), bool(ok)) for i, ok in zip(indices, predicted == labels, strict=True)
        )
    return float(np.mean([all(right[item.source, i] for i in item.sources) for item in items]))


def drawn_ceiling(classifier: DigitClassifier, items: Sequence[Number]) -> float | None:
    """Share of ``items`` whose every digit, as drawn into the picture (:attr:`Number.alone`)
    and shown alone, the classifier reads right; ``None`` if the items do not keep them.

    Lower than :func:`ceiling` where the drawing loses something of the source digit (the
    second generator redraws each digit along its skeleton)."""
    if not items or any(len(item.alone) != len(item.text) for item in items):
        return None
    pictures = [picture for item in items for picture in item.alone]
    truth = np.array([int(d) for item in items for d in item.text])
    right = classifier.predict(pictures) == truth
    ends = np.cumsum([len(item.text) for item in items])
    return float(np.mean([part.all() for part in np.split(right, ends[:-1])]))


def alone_picture(ink: np.ndarray, *, margin: int = 6) -> Image.Image:
    """Ink in [0, 1] as a dark-on-white picture of its own, with a margin of paper."""
    paper = 1 - np.clip(np.pad(ink, margin), 0, 1)
    return Image.fromarray(np.round(paper * 255).astype(np.uint8), "L")


@functools.cache
def _mnist_test():  # type: ignore[no-untyped-def]
    from mnistcnn import load_data

    return load_data("test", download=False, progress=False)


def _square(image: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(image.max(axis=1) > 30)
    cols = np.flatnonzero(image.max(axis=0) > 30)
    ink = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = max(ink.shape)
    square = np.zeros((side, side), np.uint8)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    square[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return square


def numbers(kind: Kind, count: int, seed: int, *, source: Source = "usps") -> Iterator[Number]:
    """``count`` pictures of ``kind`` written with ``source`` digits; the same ``seed`` gives the
    same pictures."""
    check_choice("kind", kind, KINDS)
    digits, labels = source_digits(source)
    key = [seed, KINDS.index(kind)]
    if source != "usps":  # the USPS sets stay the pictures they were before MNIST came in
        key.append(SOURCES.index(source))
    rng = np.random.default_rng(key)
    for _ in range(count):
        length = 6 if kind == "boxed" else int(rng.integers(5, 7))
        chosen = rng.choice(len(digits), length, replace=False)
        text = "".join(str(int(labels[i])) for i in chosen)
        glyphs = [digits[i] for i in chosen]
        boxes: tuple[Box, ...] = ()
        alone: tuple[Image.Image, ...] = ()
        if kind == "boxed":
            picture = boxed_number(glyphs, rng)
        elif kind == "tilted":
            ink, _, drawn = _line_ink(glyphs, rng, touching=False)
            ink, angle = _tilted(ink, rng)
            picture = _on_paper(ink, rng)
            alone = tuple(alone_picture(g).rotate(angle, fillcolor=255, expand=True) for g in drawn)
        else:
            if kind == "heights":
                ink, boxes, drawn = _wandering_line(glyphs, rng)
            elif kind == "joined":
                ink, boxes, drawn = _joined_line(glyphs, rng)
            else:
                ink, boxes, drawn = _line_ink(glyphs, rng, touching=kind == "touching")
            alone = tuple(alone_picture(g) for g in drawn)
            picture = _on_paper(ink, rng)
        yield Number(picture, text, tuple(int(i) for i in chosen), source, boxes, alone)


def _bitmap_glyph(digit: np.ndarray, height: int, slant: float) -> np.ndarray:
    """A square digit (uint8, 255 = ink; a USPS scan is 16x16) enlarged to ``height`` rows and
    slanted, cropped to its ink; float32 ink in [0, 1]."""
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


def _line_ink(
    digits: list[np.ndarray], rng: np.random.Generator, *, touching: bool
) -> tuple[np.ndarray, tuple[Box, ...], list[np.ndarray]]:
    height = int(rng.integers(36, 72))
    slant = rng.uniform(-0.35, 0.35) if touching else rng.uniform(-0.2, 0.2)
    glyphs = [
        _bitmap_glyph(d, int(height * rng.uniform(0.88, 1.1)), slant + rng.normal(0, 0.04))
        for d in digits
    ]
    width = sum(g.shape[1] for g in glyphs) + height * (len(glyphs) + 2)
    ink = np.zeros((height * 2, width), np.float32)
    boxes = []
    x = int(rng.integers(height // 3, height))
    for glyph in glyphs:
        y = int(
            np.clip(height / 2 + rng.normal(0, height * 0.05), 0, ink.shape[0] - glyph.shape[0])
        )
        boxes.append(_paste(ink, glyph, x, y))
        if touching:
            step = glyph.shape[1] * (1 - rng.uniform(0.02, 0.22))  # strokes meet or overlap
        else:
            step = glyph.shape[1] + height * rng.uniform(0.15, 0.7)
        x += round(float(step))
    return ink[:, : x + height // 2], tuple(boxes), glyphs


def _paste(ink: np.ndarray, glyph: np.ndarray, x: int, y: int) -> Box:
    region = ink[y : y + glyph.shape[0], x : x + glyph.shape[1]]
    np.maximum(region, glyph[: region.shape[0], : region.shape[1]], out=region)
    return (x, y, x + region.shape[1], y + region.shape[0])


def _tilted(ink: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The whole line turned by 4-15 degrees either way, cropped to its ink with a margin."""
    angle = float(rng.uniform(4, 15) * rng.choice([-1, 1]))
    turned = np.asarray(
        Image.fromarray(ink, "F").rotate(angle, Image.Resampling.BILINEAR, expand=True),
        np.float32,
    )
    rows = np.flatnonzero(turned.max(axis=1) > 0.1)
    cols = np.flatnonzero(turned.max(axis=0) > 0.1)
    margin = int(rng.integers(8, 30))
    cropped = turned[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.pad(cropped, margin), angle


def _wandering_line(
    digits: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, tuple[Box, ...], list[np.ndarray]]:
    """Touching digits, each at its own height: the line drifts, climbs in steps, curves or
    waves, and every digit strays from it; neighbours up to a digit's height apart."""
    height = int(rng.integers(36, 72))
    slant = rng.uniform(-0.35, 0.35)
    glyphs = [
        _bitmap_glyph(d, int(height * rng.uniform(0.8, 1.15)), slant + rng.normal(0, 0.06))
        for d in digits
    ]
    count = len(glyphs)
    along = np.arange(count) - (count - 1) / 2
    shape = str(rng.choice(["drift", "climb", "curve", "wave"]))
    sign = float(rng.choice([-1, 1]))
    if shape == "drift":
        line = sign * rng.uniform(0.08, 0.25) * along
    elif shape == "climb":
        line = sign * np.cumsum(rng.uniform(0.05, 0.35, count))
    elif shape == "curve":
        line = sign * rng.uniform(0.05, 0.12) * along**2
    else:
        line = rng.uniform(0.25, 0.5) * np.sin(rng.uniform(0.9, 1.6) * along + rng.uniform(0, 6.3))
    offsets = line + rng.normal(0, 0.14, count)  # in digit heights, down is positive
    steps = np.clip(np.diff(offsets), -1.0, 1.0)
    offsets = np.concatenate([[0.0], np.cumsum(steps)])
    if np.ptp(offsets) < 0.35:  # a line that came out flat is not this kind
        offsets = offsets * 0.35 / max(float(np.ptp(offsets)), 1e-6)
    tops = np.round((offsets - offsets.min()) * height).astype(int) + height // 3
    bottom = max(int(t) + g.shape[0] for t, g in zip(tops, glyphs, strict=True))
    canvas_height = bottom + height // 3
    ink = np.zeros((canvas_height, sum(g.shape[1] for g in glyphs) + 3 * height), np.float32)
    boxes = []
    x = int(rng.integers(height // 3, height))
    for glyph, top in zip(glyphs, tops, strict=True):
        boxes.append(_paste(ink, glyph, x, int(top)))
        x += round(float(glyph.shape[1] * (1 - rng.uniform(0.02, 0.25))))
    return ink[:, : x + height // 2], tuple(boxes), glyphs


def _joined_line(
    digits: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, tuple[Box, ...], list[np.ndarray]]:
    """Digits a little apart, each joined to the next by a connecting stroke the pen drew
    without lifting: from the lowest right-hand ink of one digit, in a smooth curve that dips
    and rises, to the leftmost ink of the next, as wide as the digits' own strokes."""
    height = int(rng.integers(36, 72))
    slant = rng.uniform(-0.3, 0.3)
    glyphs = [
        _bitmap_glyph(d, int(height * rng.uniform(0.88, 1.1)), slant + rng.normal(0, 0.04))
        for d in digits
    ]
    width = sum(g.shape[1] for g in glyphs) + height * (len(glyphs) + 2)
    ink = np.zeros((height * 2, width), np.float32)
    boxes = []
    x = int(rng.integers(height // 3, height))
    for glyph in glyphs:
        y = int(np.clip(height / 2 + rng.normal(0, height * 0.06), 0, height))
        boxes.append(_paste(ink, glyph, x, y))
        x += glyph.shape[1] + round(float(height * rng.uniform(0.0, 0.2)))
    ink = ink[:, : x + height // 2]
    solid = ink > 0.5
    # Stroke width from the ink's area over half its outline: a band w wide and L long has
    # area w*L and an outline of about 2L.
    outline = solid & ~ndimage.binary_erosion(solid)
    pen = max(1.5, 2 * solid.sum() / max(1, outline.sum()))
    level = float(np.percentile(ink[solid], 75))
    scale = 4  # drawn four times larger, then shrunk: a smooth, anti-aliased stroke
    strokes = Image.new("L", (ink.shape[1] * scale, ink.shape[0] * scale))
    draw = ImageDraw.Draw(strokes)
    for left, right in itertools.pairwise(boxes):
        start = _extreme(solid, left, lambda xs, ys: xs + 0.7 * ys, largest=True)
        end = _extreme(solid, right, lambda xs, ys: xs + 0.25 * np.abs(ys - 0.35), largest=False)
        dip = rng.uniform(0.03, 0.2) * height * (1 if rng.random() < 0.8 else -1)
        control = ((start[0] + end[0]) / 2 + rng.normal(0, 2), max(start[1], end[1]) + dip)
        points = [
            (
                scale * ((1 - t) ** 2 * start[0] + 2 * t * (1 - t) * control[0] + t**2 * end[0]),
                scale * ((1 - t) ** 2 * start[1] + 2 * t * (1 - t) * control[1] + t**2 * end[1]),
            )
            for t in np.linspace(0, 1, 24)
        ]
        draw.line(points, fill=255, width=round(pen * scale), joint="curve")
        radius = pen * scale / 2
        for px, py in (points[0], points[-1]):  # round ends, as a ball-point leaves them
            draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=255)
    drawn = strokes.resize((ink.shape[1], ink.shape[0]), Image.Resampling.BOX)
    np.maximum(ink, np.asarray(drawn, np.float32) / 255 * level, out=ink)
    return ink, tuple(boxes), glyphs


def _extreme(
    solid: np.ndarray,
    box: Box,
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    largest: bool,
) -> tuple[float, float]:
    """The ink pixel of ``box`` with the largest (or smallest) ``score`` of its position, the
    position given as fractions of the box's width and height."""
    left, top, right, bottom = box
    ys, xs = np.nonzero(solid[top:bottom, left:right])
    values = score(xs / max(1, right - left), ys / max(1, bottom - top))
    pick = int(np.argmax(values) if largest else np.argmin(values))
    return float(left + xs[pick]), float(top + ys[pick])


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
        glyph = _bitmap_glyph(digit, int(box * rng.uniform(0.6, 0.95)), rng.uniform(-0.2, 0.2))
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
