"""Digits as people draw them on a screen: strokes in a unit square, for the page's tests and
the drawing benchmark."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

Stroke = list[tuple[float, float]]


def _curve(
    function: Callable[[float], tuple[float, float]], start: float, stop: float, steps: int = 40
) -> Stroke:
    points = []
    for i in range(steps + 1):
        t = start + (stop - start) * i / steps
        points.append(function(t))
    return points


# Digits as people draw them with a finger or a mouse: one or two strokes each, in a unit square
# (x right, y down). Made by hand from how the digits are written, never fitted to the model.
DIGITS: dict[int, list[Stroke]] = {
    0: [_curve(lambda t: (0.5 + 0.22 * math.sin(t), 0.5 - 0.34 * math.cos(t)), 0, 2 * math.pi)],
    1: [[(0.56, 0.14), (0.46, 0.86)]],
    2: [
        [
            (0.3, 0.32),
            (0.38, 0.19),
            (0.5, 0.14),
            (0.63, 0.19),
            (0.68, 0.32),
            (0.62, 0.47),
            (0.46, 0.63),
            (0.3, 0.83),
            (0.72, 0.83),
        ]
    ],
    3: [
        [
            (0.3, 0.2),
            (0.5, 0.13),
            (0.66, 0.22),
            (0.64, 0.38),
            (0.47, 0.48),
            (0.66, 0.58),
            (0.69, 0.72),
            (0.55, 0.86),
            (0.3, 0.8),
        ]
    ],
    4: [[(0.55, 0.14), (0.28, 0.6), (0.76, 0.6)], [(0.62, 0.34), (0.62, 0.88)]],
    5: [
        [
            (0.68, 0.15),
            (0.36, 0.15),
            (0.33, 0.46),
            (0.5, 0.41),
            (0.66, 0.5),
            (0.69, 0.66),
            (0.6, 0.82),
            (0.45, 0.86),
            (0.3, 0.8),
        ]
    ],
    6: [
        [
            (0.64, 0.14),
            (0.46, 0.3),
            (0.34, 0.54),
            (0.35, 0.75),
            (0.5, 0.86),
            (0.65, 0.78),
            (0.67, 0.62),
            (0.55, 0.52),
            (0.4, 0.55),
            (0.35, 0.65),
        ]
    ],
    7: [[(0.28, 0.18), (0.72, 0.18), (0.45, 0.86)]],
    8: [_curve(lambda t: (0.5 + 0.18 * math.sin(2 * t), 0.5 - 0.34 * math.cos(t)), 0, 2 * math.pi)],
    9: [
        _curve(lambda t: (0.5 + 0.16 * math.cos(t), 0.33 - 0.17 * math.sin(t)), 0, 2 * math.pi),
        [(0.66, 0.33), (0.62, 0.86)],
    ],
}


def densify(stroke: Stroke, step: float = 0.08) -> Stroke:
    """The stroke with points at most ``step`` apart, as a hand moving over a screen gives."""
    points = [stroke[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
        count = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        points += [
            (x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count) for i in range(1, count + 1)
        ]
    return points
