"""What the line reader sees: a line of handwritten digits as the CTC network's input.

The network (``build_model("reader")``) maps a line image of height :data:`LINE_HEIGHT` to one
score vector per :data:`STRIDE` columns (decoded by :mod:`mnistcnn._reading._ctc`).

:func:`line_input` is the one normalisation of a line, shared by training (which composes lines
from MNIST digits) and reading: the ink is cropped, scaled so that it is :data:`INK_HEIGHT`
pixels high, and padded.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["INK_HEIGHT", "LINE_HEIGHT", "MAX_WIDTH", "STRIDE", "line_input", "straighten"]

LINE_HEIGHT = 32
"""Rows of a line image."""

INK_HEIGHT = 24
"""Rows the ink of a line is scaled to; the rest is margin, above and below."""

STRIDE = 4
"""Columns of the line image per output column of the network."""

_SIDE_MARGIN = 8
_INK_LEVEL = 0.15  # ink weaker than this does not count for the crop
MAX_WIDTH = 4096
"""The widest line image read (about 150 digits)."""


def line_input(ink: np.ndarray) -> tuple[np.ndarray, float, float, int]:
    """The network's input for a line of ink, with what maps it back to ``ink``'s pixels.

    Args:
        ink: float32 array of shape (h, w), ink strength in [0, 1] (0 = paper).

    Returns:
        ``(line, scale, origin, top)``: the float32 (LINE_HEIGHT, W) line image (W a multiple
        of :data:`STRIDE`), the factor from ``ink`` columns to line columns, the ``ink`` column
        of the line's column 0 (line column ``x`` is ``ink`` column ``origin + x / scale``),
        and the first ``ink`` row with ink.

    Raises:
        ValueError: ``ink`` holds no ink.
    """
    strong = ink > _INK_LEVEL
    rows = np.flatnonzero(strong.any(axis=1))
    cols = np.flatnonzero(strong.any(axis=0))
    if rows.size == 0:
        raise ValueError("the line holds no ink.")
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = np.ascontiguousarray(ink[top:bottom, left:right], dtype=np.float32)
    scale = INK_HEIGHT / crop.shape[0]
    width = max(1, min(round(crop.shape[1] * scale), MAX_WIDTH - 2 * _SIDE_MARGIN))
    scale_x = width / crop.shape[1]
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(crop, mode="F").resize((width, INK_HEIGHT), resample))
    padded = width + 2 * _SIDE_MARGIN
    padded += -padded % STRIDE
    line = np.zeros((LINE_HEIGHT, padded), dtype=np.float32)
    margin = (LINE_HEIGHT - INK_HEIGHT) // 2
    peak = float(small.max())
    line[margin : margin + INK_HEIGHT, _SIDE_MARGIN : _SIDE_MARGIN + width] = np.clip(
        small / max(peak, 1e-6), 0.0, 1.0
    )
    return line, scale_x, left - _SIDE_MARGIN / scale_x, top


def straighten(ink: np.ndarray) -> np.ndarray:
    """``ink`` with each column moved up or down so that the line's middle runs straight.

    People write numbers on a line that drifts, climbs or curves, and put some digits higher or
    lower than their neighbours. The middle of the line is the ink's vertical centre of mass,
    averaged over a window of about one digit's width (weighted by the ink in each column);
    each column is then shifted, by whole pixels, to bring that middle to one row. A line on
    one baseline is left almost as it was; a digit inside the window keeps its shape.

    Not yet part of :func:`line_input`: the shipped reader was trained on lines that were not
    straightened, and reads touching digits on one baseline worse when they are (measured on
    validation lines composed from MNIST training digits 50,000-59,999 with the shipped reader:
    66% to 77% exact on one baseline, 35% to 59% with digits up to a quarter of a digit's height
    above or below their neighbours, 8% to 19% up to half; but 78% to 72% on held-out touching
    USPS lines). It joins the line input together with a reader trained on straightened lines.

    Args:
        ink: float32 array of shape (h, w), ink strength in [0, 1].

    Returns:
        float32 array of shape (h + 2 * most shift, w): the straightened ink.
    """
    strong = ink > _INK_LEVEL
    columns = np.flatnonzero(strong.any(axis=0))
    if columns.size < 2:
        return ink
    heights = [
        int(rows[-1] - rows[0] + 1) for rows in (np.flatnonzero(strong[:, x]) for x in columns)
    ]
    digit_height = float(np.percentile(heights, 75))
    window = max(3, round(_STRAIGHTEN_WINDOW * digit_height)) | 1
    mass = ink.sum(axis=0, dtype=np.float64)
    moment = (ink * np.arange(ink.shape[0], dtype=np.float32)[:, None]).sum(axis=0)
    kernel = np.ones(window)
    weight = np.convolve(mass, kernel, mode="same")
    inked = weight > 1e-6
    middle = np.interp(
        np.arange(ink.shape[1]),
        np.flatnonzero(inked),
        np.convolve(moment, kernel, mode="same")[inked] / weight[inked],
    )
    shifts = np.round(np.median(middle) - middle).astype(np.int64)
    reach = int(np.abs(shifts).max())
    if reach == 0:
        return ink
    out = np.zeros((ink.shape[0] + 2 * reach, ink.shape[1]), dtype=np.float32)
    rows = np.arange(ink.shape[0])[:, None] + reach + shifts[None, :]
    out[rows, np.arange(ink.shape[1])[None, :]] = ink
    return out


_STRAIGHTEN_WINDOW = 1.2
"""The window of :func:`straighten`, in digit heights (about one digit's width)."""
