"""Digits drawn as the served page draws them, at every size a hand draws them.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/drawings.py [--count 300]

The page's pen is round and 1/14 of the canvas high (20 px on its 280-px canvas) whatever the
size of the digit, so a small digit is drawn with a pen that is thick for it. This measures
how the shipped model reads such drawings, sent as the page sends them (a PNG of the whole
canvas: dark ink on white, or light ink on the dark theme's near-black), through the same
``predict`` the server runs. Two generators, neither tuned to the model:

- **MNIST test writers**: each test digit thinned to its centre line (Zhang-Suen), then
  redrawn along that line with the page's pen at the size and place asked for: real
  handwriting, drawn as a finger on a canvas would;
- **hand-made strokes**: the page tests' ten stroke templates (``tests/strokes.py``), under a
  random slant, rotation and aspect.

Digit sizes are the height of the digit as a share of the canvas height: small (25-40%),
medium (40-60%), large (60-90%). Reported: accuracy per size and theme. Nothing here fails a
build.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import mnistcnn  # noqa: E402
from mnistcnn import DigitClassifier  # noqa: E402
from tests.strokes import DIGITS, Stroke, densify  # noqa: E402

CANVAS = 280
PEN = round(CANVAS / 14)  # as the page: canvas.height / 14
THEMES = {"light": (255, 17), "dark": (13, 244)}  # (paper, ink) grey levels of the page
SIZES = {"small": (0.25, 0.4), "medium": (0.4, 0.6), "large": (0.6, 0.9)}


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the one-pixel centre line of a binary mask."""
    image = mask.astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = np.pad(image, 1)
            p2, p3, p4 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:]
            p5, p6, p7 = p[2:, 2:], p[2:, 1:-1], p[2:, :-2]
            p8, p9 = p[1:-1, :-2], p[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(ring[:8])
            transitions = sum((ring[i] == 0) & (ring[i + 1] == 1) for i in range(8))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (image == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1)
            remove &= side
            if remove.any():
                image[remove] = 0
                changed = True
    return image.astype(bool)


def centre_line(digit: np.ndarray) -> list[Stroke]:
    """An MNIST digit's centre line as two-point strokes between neighbouring pixels, in a
    unit square around the digit (aspect kept)."""
    big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BILINEAR))
    line = thin(big > 100)
    ys, xs = np.nonzero(line)
    top, left = ys.min(), xs.min()
    side = max(ys.max() - top, xs.max() - left, 1)
    strokes: list[Stroke] = []
    on = set(zip(ys.tolist(), xs.tolist(), strict=True))
    for y, x in on:
        point = ((x - left) / side, (y - top) / side)
        strokes.append([point])
        for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
            if (y + dy, x + dx) in on:
                strokes.append([point, ((x + dx - left) / side, (y + dy - top) / side)])
    return strokes


def transformed(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """The hand-made strokes under a random slant, rotation and aspect, as people vary."""
    slant = rng.uniform(-0.3, 0.3)
    angle = rng.uniform(-0.15, 0.15)
    aspect = rng.uniform(0.75, 1.2)
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for stroke in strokes:
        points = []
        for x, y in densify(stroke, 0.04):
            x, y = (x - 0.5 + slant * (0.5 - y)) * aspect, y - 0.5
            points.append((x * cos - y * sin, x * sin + y * cos))
        out.append(points)
    return out


def draw(strokes: list[Stroke], height_share: float, theme: str, rng: np.random.Generator) -> bytes:
    """The canvas as the page sends it: the strokes scaled to ``height_share`` of its height,
    placed at random, drawn with the page's round pen; PNG bytes."""
    points = np.array([p for stroke in strokes for p in stroke], np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = height_share * (CANVAS - PEN) / max(high[1] - low[1], 1e-6)
    size = (high - low) * scale
    if size[0] > CANVAS - PEN:  # a wide digit: fit the width instead
        scale *= (CANVAS - PEN) / size[0]
        size = (high - low) * scale
    room = np.maximum(CANVAS - PEN - size, 0)
    origin = PEN / 2 + rng.uniform(0, 1, 2) * room
    paper, ink = THEMES[theme]
    canvas = Image.new("L", (CANVAS, CANVAS), paper)
    pen = ImageDraw.Draw(canvas)
    radius = PEN / 2
    for stroke in strokes:
        placed = [tuple(origin + (np.array(p) - low) * scale) for p in stroke]
        if len(placed) > 1:
            pen.line(placed, fill=ink, width=PEN)
        for x, y in placed:
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=ink)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="drawings per size and theme")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    classifier = DigitClassifier.pretrained()
    test_set = mnistcnn.load_data("test")
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(test_set.labels), args.count, replace=False)
    writers = [(centre_line(test_set.images[i]), int(test_set.labels[i])) for i in chosen]
    templates = [
        (transformed(DIGITS[digit], rng), digit)
        for digit in rng.integers(0, 10, args.count).tolist()
    ]
    print(f"pen {PEN} px on a {CANVAS}-px canvas; {args.count} drawings per cell; seed {args.seed}")
    print()
    print("| drawings | theme | " + " | ".join(SIZES) + " |")
    print("| --- | --- |" + " --- |" * len(SIZES))
    for name, items in (("MNIST test writers", writers), ("hand-made strokes", templates)):
        for theme in THEMES:
            cells = []
            for low, high in SIZES.values():
                pictures = [draw(s, rng.uniform(low, high), theme, rng) for s, _ in items]
                labels = np.array([label for _, label in items])
                accuracy = float((classifier.predict(pictures) == labels).mean())
                cells.append(f"{accuracy:.1%}")
            print(f"| {name} | {theme} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
