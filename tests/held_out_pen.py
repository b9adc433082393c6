"""Held-out whole numbers, generator two: every digit redrawn with a pen along its skeleton.

A second writer beside ``tests/held_out.py``, sharing no rendering with it nor with the reader's
training composer (``mnistcnn._data._composing``). The same digit sources (USPS test scans,
MNIST test digits) and the same kinds, made another way:

- **The digit** is thinned to its skeleton (Zhang-Suen thinning, written here with NumPy), the
  skeleton smoothed into a curve, bent by this writer's hand (slant as an angle, aspect, a
  slight turn and a gentle wobble) and stroked with a round pen of the writer's width and
  pressure: the source's stroke width, blur and scanning are gone; only the shape stays.
- **Spacing** is measured between the strokes, not between boxes: each digit slides along the
  line until its ink is a chosen distance from its neighbour's, row by row, so touching
  digits overlap by a chosen depth of ink (up to a fifth of a digit's height) whatever their
  shapes.
- **Lines** are models of their own: a tilted line turns the pen's points (not the picture);
  a line of digits at their own heights follows a slow wave plus a slope, and each digit hops
  off it (Laplace-distributed, neighbours up to a digit's height apart); a joined number
  leaves each digit at a stroke end and enters the next at its first stroke end, along a
  cubic curve drawn with the same pen.
- **Paper and camera**: tinted paper with fibre texture, blue, black or pencil ink, a light
  that falls off from a spot, camera blur, noise, JPEG; printed boxes slightly turned.

Every picture is deterministic for its seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from tests.held_out import (
    KINDS,
    SOURCES,
    Box,
    Kind,
    Number,
    Source,
    alone_picture,
    ceiling,
    check_choice,
    drawn_ceiling,
    source_digits,
)
from tests.pictures import jpeg

__all__ = ["KINDS", "SOURCES", "Number", "ceiling", "drawn_ceiling", "numbers"]

_GRID = 56  # a digit is thinned at this many pixels per side
_SUPERSAMPLE = 3  # strokes are drawn this much larger, then shrunk: smooth edges

_Score = Callable[[np.ndarray], np.ndarray]


def numbers(kind: Kind, count: int, seed: int, *, source: Source = "usps") -> Iterator[Number]:
    """``count`` pictures of ``kind`` written with ``source`` digits; the same ``seed`` gives the
    same pictures."""
    check_choice("kind", kind, KINDS)
    check_choice("source", source, SOURCES)
    digits, labels = source_digits(source)
    rng = np.random.default_rng([seed, 7919, KINDS.index(kind), SOURCES.index(source)])
    for _ in range(count):
        length = 6 if kind == "boxed" else int(rng.integers(5, 7))
        chosen = rng.choice(len(digits), length, replace=False)
        text = "".join(str(int(labels[i])) for i in chosen)
        skeletons = [_skeleton(digits[i]) for i in chosen]
        if kind == "boxed":
            picture, boxes, strokes = _boxed(skeletons, rng)
        else:
            picture, boxes, strokes = _line(skeletons, kind, rng)
        alone = tuple(_alone(stroke) for stroke in strokes)
        yield Number(picture, text, tuple(int(i) for i in chosen), source, boxes, alone)


def _alone(stroke: _Stroked) -> Image.Image:
    left, top, right, bottom = stroke.box()
    shape = (int(np.ceil(bottom - top)) + 1, int(np.ceil(right - left)) + 1)
    return alone_picture(_render([stroke.moved(-left, -top)], [], shape))


# The digit's shape: a skeleton graph.


@dataclass(frozen=True)
class _Skeleton:
    """A digit's centre line: points (x, y) in units of the digit's height, y down, centred on
    the ink's box; edges join 8-neighbouring points; ends are the points with one neighbour."""

    points: np.ndarray
    edges: np.ndarray
    ends: np.ndarray


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang and Suen's thinning (1984): peel boundary pixels in two alternating passes, keeping
    every pixel whose removal would break the shape or shorten a line's end, until none goes."""
    image = np.pad(mask.astype(np.uint8), 1)
    while True:
        removed = 0
        for second in (False, True):
            centre = image[1:-1, 1:-1]
            north, south = image[:-2, 1:-1], image[2:, 1:-1]
            east, west = image[1:-1, 2:], image[1:-1, :-2]
            ring = [
                north,
                image[:-2, 2:],
                east,
                image[2:, 2:],
                south,
                image[2:, :-2],
                west,
                image[:-2, :-2],
            ]
            neighbours = sum(p.astype(np.int32) for p in ring)
            rises = sum(
                ((a == 0) & (b == 1)).astype(np.int32)
                for a, b in zip(ring, ring[1:] + ring[:1], strict=True)
            )
            if second:
                sides = (north * east * west == 0) & (north * south * west == 0)
            else:
                sides = (north * east * south == 0) & (east * south * west == 0)
            peel = (centre == 1) & (neighbours >= 2) & (neighbours <= 6) & (rises == 1) & sides
            removed += int(peel.sum())
            centre[peel] = 0
        if removed == 0:
            return image[1:-1, 1:-1].astype(bool)


def _skeleton(digit: np.ndarray) -> _Skeleton:
    big = np.asarray(
        Image.fromarray(digit).resize((_GRID, _GRID), Image.Resampling.BILINEAR), np.float32
    )
    mask = big > 128
    labelled, count = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = ndimage.sum(mask, labelled, range(1, count + 1))
    mask = np.isin(labelled, 1 + np.flatnonzero(sizes >= 12))  # specks are not strokes
    rows, cols = np.nonzero(mask)
    line = _thin(mask)
    ys, xs = np.nonzero(line)
    index = -np.ones(line.shape, np.int64)
    index[ys, xs] = np.arange(len(ys))
    edges = []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny < _GRID) & (nx >= 0) & (nx < _GRID)
        other = np.full(len(ys), -1)
        other[inside] = index[ny[inside], nx[inside]]
        edges += [
            (a, b) for a, b in zip(np.flatnonzero(other >= 0), other[other >= 0], strict=True)
        ]
    edge_array = np.array(edges, np.int64).reshape(-1, 2)
    degree = np.bincount(edge_array.ravel(), minlength=len(ys))
    height = rows.max() - rows.min() + 1
    points = np.stack(
        [
            (xs - (cols.min() + cols.max()) / 2) / height,
            (ys - (rows.min() + rows.max()) / 2) / height,
        ],
        axis=1,
    ).astype(np.float64)
    for _ in range(3):  # smooth the pixel staircase into a curve; ends stay put
        total = np.zeros_like(points)
        np.add.at(total, edge_array[:, 0], points[edge_array[:, 1]])
        np.add.at(total, edge_array[:, 1], points[edge_array[:, 0]])
        moving = degree >= 2
        points[moving] = 0.5 * points[moving] + 0.5 * total[moving] / degree[moving, None]
    return _Skeleton(points, edge_array, np.flatnonzero(degree == 1))


# The hand: how one writer bends and strokes a digit.


@dataclass(frozen=True)
class _Hand:
    height: float  # pixels from a digit's top to its bottom, before the per-digit size
    slant: float  # radians, positive leaning right
    aspect: float
    pen: float  # the pen's width in pixels
    wobble: float  # amplitude of a slow sideways waver, in digit heights

    @classmethod
    def draw(cls, rng: np.random.Generator, *, height: tuple[float, float] = (34, 70)) -> _Hand:
        size = rng.uniform(*height)
        return cls(
            height=size,
            slant=np.radians(rng.normal(8, 9)),
            aspect=rng.uniform(0.8, 1.2),
            pen=max(1.8, size * rng.uniform(0.05, 0.12)),
            wobble=rng.uniform(0.0, 0.04),
        )


@dataclass(frozen=True)
class _Stroked:
    """A digit as the pen wrote it: points in picture pixels, its skeleton's edges and ends."""

    points: np.ndarray
    edges: np.ndarray
    ends: np.ndarray
    pen: float
    pressure: float  # 0-1: how dark this digit's ink comes out

    def moved(self, dx: float, dy: float) -> _Stroked:
        return _Stroked(
            self.points + np.array([dx, dy]), self.edges, self.ends, self.pen, self.pressure
        )

    def box(self) -> tuple[float, float, float, float]:
        half = self.pen / 2
        (left, top), (right, bottom) = self.points.min(axis=0), self.points.max(axis=0)
        return (left - half, top - half, right + half, bottom + half)


def _write(skeleton: _Skeleton, hand: _Hand, rng: np.random.Generator) -> _Stroked:
    size = hand.height * rng.uniform(0.88, 1.12)
    x, y = skeleton.points[:, 0] * hand.aspect, skeleton.points[:, 1].copy()
    x = x + hand.wobble * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * y + rng.uniform(0, 6.3))
    slant = hand.slant + np.radians(rng.normal(0, 3))
    x = x - np.tan(slant) * y  # the top (y < 0) leans right for a positive slant
    turn = np.radians(rng.normal(0, 2.5))
    x, y = np.cos(turn) * x - np.sin(turn) * y, np.sin(turn) * x + np.cos(turn) * y
    points = np.stack([x, y], axis=1) * size
    pen = hand.pen * rng.uniform(0.85, 1.15)
    return _Stroked(points, skeleton.edges, skeleton.ends, pen, rng.uniform(0.75, 1.0))


# Lines of digits.


def _line(
    skeletons: list[_Skeleton], kind: Kind, rng: np.random.Generator
) -> tuple[Image.Image, tuple[Box, ...], list[_Stroked]]:
    hand = _Hand.draw(rng)
    strokes = [_write(s, hand, rng) for s in skeletons]
    count = len(strokes)
    height = hand.height
    lifts = np.zeros(count)
    if kind == "heights":
        lifts = _wandering(count, rng) * height
    if kind in ("touching", "heights"):
        gaps = -rng.uniform(0.0, 0.07, count) * height  # depth of overlapping ink
    elif kind == "joined":
        gaps = rng.uniform(0.02, 0.22, count) * height
    else:
        gaps = rng.uniform(0.2, 0.85, count) * height
    placed = [strokes[0].moved(0, lifts[0])]
    for stroke, lift, gap in zip(strokes[1:], lifts[1:], gaps[1:], strict=True):
        lifted = stroke.moved(0, lift)
        placed.append(lifted.moved(_kern(placed[-1], lifted, float(gap)), 0))
    links = []
    if kind == "joined":
        links = [_ligature(a, b, height, rng) for a, b in itertools.pairwise(placed)]
    if kind == "tilted":
        angle = np.radians(rng.uniform(4, 15) * rng.choice([-1, 1]))
        centre = np.mean([p.points.mean(axis=0) for p in placed], axis=0)
        placed = [_turned(p, angle, centre) for p in placed]
    margin = rng.uniform(0.3, 0.9, 4) * height
    boxes = np.array([p.box() for p in placed])
    left, top = boxes[:, 0].min() - margin[0], boxes[:, 1].min() - margin[1]
    placed = [p.moved(-left, -top) for p in placed]
    links = [link - [left, top] for link in links]
    width = int(boxes[:, 2].max() - left + margin[2])
    picture_height = int(boxes[:, 3].max() - top + margin[3])
    ink = _render(placed, links, (picture_height, width))
    digit_boxes = tuple(_rounded(p.box()) for p in placed)
    return _photograph(ink, rng), digit_boxes, placed


def _wandering(count: int, rng: np.random.Generator) -> np.ndarray:
    """Each digit's height off a flat line, in digit heights (down positive): a slow wave and a
    slope, and every digit hopping off them; neighbours at most one digit's height apart."""
    along = np.arange(count, dtype=np.float64)
    wave = rng.uniform(0.1, 0.35) * np.sin(
        2 * np.pi * along / rng.uniform(3, 9) + rng.uniform(0, 6.3)
    )
    slope = rng.normal(0, 0.08) * along
    hops = rng.laplace(0, 0.1, count)
    lifts = wave + slope + hops
    steps = np.clip(np.diff(lifts), -1.0, 1.0)
    lifts = np.concatenate([[0.0], np.cumsum(steps)])
    if np.ptp(lifts) < 0.3:  # a line that came out flat is not this kind
        lifts = lifts * 0.3 / max(float(np.ptp(lifts)), 1e-6)
    return lifts - lifts.mean()


def _profile(stroke: _Stroked, rows: np.ndarray, *, right: bool) -> np.ndarray:
    """For each row, the stroke's outermost ink on the right (or left) side; nan where the row
    has no ink."""
    half = stroke.pen / 2
    offsets = np.linspace(-half, half, 9)
    reach = np.sqrt(np.maximum(half**2 - offsets**2, 0))
    ys = (stroke.points[:, 1, None] + offsets[None, :]).ravel()
    xs = (stroke.points[:, 0, None] + (reach if right else -reach)[None, :]).ravel()
    found = np.full(len(rows), np.nan)
    bins = np.clip(np.round(ys).astype(np.int64) - rows[0], 0, len(rows) - 1)
    inside = (ys >= rows[0] - 0.5) & (ys <= rows[-1] + 0.5)
    order = np.argsort(xs[inside])
    if not right:
        order = order[::-1]
    found[bins[inside][order]] = xs[inside][order]  # the last write per row is the extreme
    return found


def _kern(before: _Stroked, after: _Stroked, gap: float) -> float:
    """How far to move ``after`` right so its ink comes ``gap`` pixels from ``before``'s at the
    nearest row (a negative gap overlaps the strokes by that much)."""
    top = int(np.floor(min(before.box()[1], after.box()[1])))
    bottom = int(np.ceil(max(before.box()[3], after.box()[3])))
    rows = np.arange(top, bottom + 1)
    right = _profile(before, rows, right=True)
    left = _profile(after, rows, right=False)
    shared = ~np.isnan(right) & ~np.isnan(left)
    (left_before, _, right_before, _), (left_after, _, right_after, _) = before.box(), after.box()
    if shared.sum() < 2:  # no row in common: keep the boxes ``gap`` apart
        return right_before - left_after + gap
    # Nor does a digit tuck under its neighbour: the boxes overlap by at most two fifths of the
    # narrower one, whatever the rows they do not share.
    narrower = min(right_before - left_before, right_after - left_after)
    return float(
        max(np.max(right[shared] - left[shared]) + gap, right_before - 0.4 * narrower - left_after)
    )


def _ligature(
    before: _Stroked, after: _Stroked, height: float, rng: np.random.Generator
) -> np.ndarray:
    """The pen's path from where ``before`` ends to where ``after`` begins: out of the lowest
    right-hand stroke end, into the highest left-hand one, along a cubic curve that dips."""
    start = _end_point(before, lambda p: p[:, 1] + 0.5 * p[:, 0], lambda p: 0.4 * p[:, 0] - p[:, 1])
    end = _end_point(after, lambda p: -p[:, 0] - p[:, 1], lambda p: -0.4 * p[:, 0] - p[:, 1])
    reach = max(end[0] - start[0], 0.3 * height)
    dip = rng.uniform(0.05, 0.25) * height
    first = start + np.array([rng.uniform(0.2, 0.45) * reach, dip])
    second = end + np.array([-rng.uniform(0.2, 0.45) * reach, dip * rng.uniform(0.3, 1.0)])
    t = np.linspace(0, 1, 30)[:, None]
    path: np.ndarray = (
        (1 - t) ** 3 * start
        + 3 * (1 - t) ** 2 * t * first
        + 3 * (1 - t) * t**2 * second
        + t**3 * end
    )
    return path


def _end_point(stroke: _Stroked, at_an_end: _Score, closed: _Score) -> np.ndarray:
    """The stroke end that scores most by ``at_an_end``; for a digit with no end (a closed 0 or
    8, begun and finished near its top), the point that scores most by ``closed``. Positions
    are scored relative to the digit's box, in units of its height."""
    left, top, _, bottom = stroke.box()
    candidates = stroke.points[stroke.ends] if len(stroke.ends) else stroke.points
    relative = (candidates - np.array([left, top])) / max(bottom - top, 1.0)
    values = at_an_end(relative) if len(stroke.ends) else closed(relative)
    point: np.ndarray = candidates[int(np.argmax(values))]
    return point


def _turned(stroke: _Stroked, angle: float, centre: np.ndarray) -> _Stroked:
    cos, sin = np.cos(angle), np.sin(angle)
    relative = stroke.points - centre
    points = centre + relative @ np.array([[cos, sin], [-sin, cos]])
    return _Stroked(points, stroke.edges, stroke.ends, stroke.pen, stroke.pressure)


def _rounded(box: tuple[float, float, float, float]) -> Box:
    left, top, right, bottom = box
    return (int(np.floor(left)), int(np.floor(top)), int(np.ceil(right)), int(np.ceil(bottom)))


def _render(strokes: list[_Stroked], links: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Ink in [0, 1] of the strokes and connecting paths, drawn with a round pen."""
    scale = _SUPERSAMPLE
    canvas = Image.new("L", (shape[1] * scale, shape[0] * scale))
    draw = ImageDraw.Draw(canvas)

    def dot(x: float, y: float, radius: float, fill: int) -> None:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill)

    for stroke in strokes:
        fill = round(255 * stroke.pressure)
        width = max(1, round(stroke.pen * scale))
        points = stroke.points * scale
        for a, b in stroke.edges:
            draw.line([tuple(points[a]), tuple(points[b])], fill=fill, width=width)
        for x, y in points:
            dot(x, y, stroke.pen * scale / 2, fill)
    pairs = list(itertools.pairwise(strokes))[: len(links)]  # joined numbers only have links
    for link, (before, after) in zip(links, pairs, strict=True):
        pen = (before.pen + after.pen) / 2
        fill = round(255 * (before.pressure + after.pressure) / 2)
        path = [tuple(p) for p in link * scale]
        draw.line(path, fill=fill, width=max(1, round(pen * scale)), joint="curve")
        for x, y in (path[0], path[-1]):
            dot(x, y, pen * scale / 2, fill)
    small = canvas.resize((shape[1], shape[0]), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


# Paper, light and camera.

_INK = {"blue": (25, 45, 140), "black": (22, 22, 28), "pencil": (85, 85, 92)}
_PAPER = [(246, 244, 236), (240, 236, 222), (236, 240, 244), (250, 250, 250)]


def _photograph(
    ink: np.ndarray, rng: np.random.Generator, *, printed: np.ndarray | None = None
) -> Image.Image:
    """Ink (and printed lines, if any, with their colour) on tinted paper with fibre texture,
    lit from a spot, through a slightly soft lens, with noise and JPEG."""
    height, width = ink.shape
    paper = np.array(_PAPER[int(rng.integers(len(_PAPER)))], np.float32) * rng.uniform(0.85, 1.0)
    fibre = ndimage.gaussian_filter(rng.normal(0, 1, (height, width)), rng.uniform(1, 3))
    fibre *= rng.uniform(2, 7) / max(float(fibre.std()), 1e-6)
    rgb = np.ones((height, width, 3), np.float32) * paper + fibre[..., None]
    if printed is not None:
        mask, colour = printed[..., 0:1], printed[0, 0, 1:4]
        rgb = rgb * (1 - mask) + colour * mask
    name = str(rng.choice(list(_INK), p=[0.5, 0.35, 0.15]))
    strength = ink[..., None] * (
        rng.uniform(0.55, 0.75) if name == "pencil" else rng.uniform(0.8, 0.95)
    )
    rgb = rgb * (1 - strength) + np.array(_INK[name], np.float32) * strength
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    spot = rng.uniform([0, 0], [width, height])
    distance = np.hypot(xs - spot[0], ys - spot[1]) / max(width, height)
    rgb = rgb * (1 - rng.uniform(0.0, 0.35) * distance**2)[..., None]
    rgb = ndimage.gaussian_filter(rgb, (rng.uniform(0.2, 1.0),) * 2 + (0,))
    rgb = rgb + rng.normal(0, rng.uniform(1, 5), rgb.shape)
    image = Image.fromarray(np.round(np.clip(rgb, 0, 255)).astype(np.uint8), "RGB")
    return jpeg(image, quality=int(rng.integers(50, 92))) if rng.random() < 0.7 else image


# Printed boxes.

_PRINT = [(205, 50, 45), (222, 90, 40), (40, 140, 80), (30, 120, 110)]


def _boxed(
    skeletons: list[_Skeleton], rng: np.random.Generator
) -> tuple[Image.Image, tuple[Box, ...], list[_Stroked]]:
    """Six boxes printed in red, orange, green or teal, one pen-drawn digit in each, the sheet
    photographed a little turned."""
    side = rng.uniform(48, 84)
    gap = side * rng.uniform(0.12, 0.45)
    line = max(1.5, side * rng.uniform(0.025, 0.06))
    margin = side * rng.uniform(0.4, 0.8)
    count = len(skeletons)
    width = int(2 * margin + count * side + (count - 1) * gap)
    height = int(2 * margin + side)
    hand = _Hand.draw(rng, height=(0.55 * side, 0.8 * side))
    scale = _SUPERSAMPLE
    frame = Image.new("L", (width * scale, height * scale))
    draw = ImageDraw.Draw(frame)
    strokes = []
    for index, skeleton in enumerate(skeletons):
        left = margin + index * (side + gap)
        draw.rectangle(
            [left * scale, margin * scale, (left + side) * scale, (margin + side) * scale],
            outline=255,
            width=round(line * scale),
        )
        stroke = _write(skeleton, hand, rng)
        centre = (
            left + side / 2 + rng.normal(0, side * 0.06),
            margin + side / 2 + rng.normal(0, side * 0.06),
        )
        strokes.append(stroke.moved(*centre))
    angle = float(rng.uniform(-1.2, 1.2))
    ink = _render(strokes, [], (height, width))
    ink = np.asarray(Image.fromarray(ink, "F").rotate(angle, Image.Resampling.BILINEAR), np.float32)
    frame = frame.resize((width, height), Image.Resampling.BOX).rotate(
        angle, Image.Resampling.BILINEAR
    )
    colour = np.clip(
        np.array(_PRINT[int(rng.integers(len(_PRINT)))]) + rng.normal(0, 10, 3), 0, 255
    )
    printed = np.zeros((height, width, 4), np.float32)
    printed[..., 0] = np.asarray(frame, np.float32) / 255
    printed[..., 1:4] = colour
    return _photograph(ink, rng, printed=printed), (), strokes
