"""Printed forms: coloured print told apart from ink, and the printed boxes digits are written in.

Forms print their boxes, grids and guide lines in a colour the writer's pen is not: the six
postal-code boxes of a Chinese envelope are red, bank and remittance forms often green. Such
print is found by colour (a clearly red or green pixel; blue and black pens are neither) and
painted over with the paper's own level before the ink is extracted, so a line that crosses a
digit takes none of the digit with it: where the pen crossed the print, the pixel has the ink's
colour and stays. Boxes are then found from where the print's lines run (:func:`find_boxes`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["PrintLayer", "find_boxes", "remove_rules", "separate_print"]

_MIN_PRINT_SHARE = 0.002  # of the picture's pixels, for print to count as present


@dataclass(frozen=True)
class PrintLayer:
    """The picture with its coloured print removed.

    Attributes:
        gray: float32 (h, w) grey levels in [0, 1] (0 = black) with print painted as paper.
        mask: bool (h, w), where print was found; ``None`` when the picture has none.
    """

    gray: np.ndarray
    mask: np.ndarray | None


def separate_print(rgb: np.ndarray) -> PrintLayer:
    """Split an RGB picture (float32 (h, w, 3) in [0, 1]) into its ink and its coloured print."""
    gray = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)
    # Colours relative to the paper's (tinted paper, warm light): the brightest pixels are paper.
    paper_colour = np.percentile(rgb[gray >= np.percentile(gray, 75)], 50, axis=0)
    balanced = rgb / np.maximum(paper_colour, 0.05)
    red, green, blue = balanced[..., 0], balanced[..., 1], balanced[..., 2]
    reddish = (red - np.maximum(green, blue) > 0.14) & (red > 0.3)
    greenish = (green - np.maximum(red, blue) > 0.08) & (green > 0.2)
    mask = reddish | greenish
    if mask.mean() < _MIN_PRINT_SHARE:
        return PrintLayer(gray, None)
    # The blurred rim of the print is part of it too, unless it has the pen's colour.
    rim = ndimage.binary_dilation(mask, iterations=1) & ~_pen_coloured(balanced)
    mask = mask | rim
    paper = float(np.percentile(gray[~mask], 90)) if (~mask).any() else 1.0
    local = ndimage.grey_dilation(np.where(mask, 0.0, gray), size=(7, 7))  # nearby paper
    cleaned = gray.copy()
    cleaned[mask] = np.where(local[mask] > 0, local[mask], paper)
    return PrintLayer(cleaned.astype(np.float32), mask)


def _pen_coloured(rgb: np.ndarray) -> np.ndarray:
    """Pixels that could be a pen's: blue-dominant, or dark and nearly colourless."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    bluish = blue - np.maximum(red, green) > 0.08
    dark = rgb.max(axis=-1) < 0.35
    return np.asarray(bluish | dark)


def _long_pieces(mask: np.ndarray, length: float) -> np.ndarray:
    """The pieces of ``mask`` that extend at least ``length`` pixels one way: lines and box
    outlines, not the coloured fringes that JPEG leaves along pen strokes."""
    pieces, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    keep = np.zeros(count + 1, bool)
    for index, window in enumerate(ndimage.find_objects(pieces), start=1):
        if window is not None:
            extent = max(window[0].stop - window[0].start, window[1].stop - window[1].start)
            keep[index] = extent >= length
    result: np.ndarray = keep[pieces]
    return result


@dataclass(frozen=True)
class FoundBox:
    """A printed box: its inside, (top, left, bottom, right) exclusive, in the mask's pixels."""

    top: int
    left: int
    bottom: int
    right: int


def find_boxes(mask: np.ndarray) -> list[FoundBox]:
    """The printed boxes of a print mask, in reading order (rows of boxes top to bottom, each
    left to right); empty if the print forms fewer than two boxes (lines and lettering alone
    are not boxes).

    Boxes are found from the print's profiles, which a pen stroke over a line barely changes:
    rows that are mostly print are horizontal lines; between two of them, columns that are
    mostly print are vertical lines; two neighbouring verticals joined by print along the top
    and the bottom enclose a box (separate boxes have no print between them).
    """
    height, width = mask.shape
    mask = _long_pieces(mask, max(10.0, 0.03 * max(height, width)))
    if not mask.any():
        return []
    rows = _bands(mask.sum(axis=1) >= 0.5 * mask.sum(axis=1).max())
    boxes = []
    for (_, top), (bottom, _) in itertools.pairwise(rows):
        if bottom - top < 8:
            continue
        band = mask[top:bottom]
        columns = _bands(band.mean(axis=0) >= 0.5)
        row = [
            FoundBox(top, left, bottom, right)
            for (_, left), (right, _) in itertools.pairwise(columns)
            if right - left >= 8
            and 0.3 <= (right - left) / (bottom - top) <= 3.0
            and _closed(mask, top, left, bottom, right, 0.15)  # strokes may cover the lines
        ]
        row = _complete_row(mask, row)
        if len(row) >= 2:  # a lone box (a stamp's, say) is not a field of digits
            boxes.extend(row)
    return boxes if len(boxes) >= 2 else []


def _closed(mask: np.ndarray, top: int, left: int, bottom: int, right: int, share: float) -> bool:
    """Whether print runs along ``share`` of the top and of the bottom of a box."""
    above = mask[max(0, top - 4) : top, left:right].any(axis=0).mean()
    below = mask[bottom : bottom + 4, left:right].any(axis=0).mean()
    return bool(above >= share and below >= share)


def _complete_row(mask: np.ndarray, row: list[FoundBox]) -> list[FoundBox]:
    """A row of boxes with those added that a written digit hid: a digit over a box's
    vertical line hides the line, but the boxes of a form are evenly spaced, so a box is
    expected at every step of the row's pitch where print runs along its top and bottom."""
    if len(row) < 2:
        return row
    width = int(np.median([b.right - b.left for b in row]))
    row = [b for b in row if 0.7 <= (b.right - b.left) / width <= 1.4]
    steps = np.diff([b.left for b in row])
    steps = steps[steps >= 0.9 * width]  # boxes do not overlap
    if len(row) < 2 or steps.size == 0:
        return row
    pitch = float(np.median(steps[steps <= 1.5 * steps.min()]))
    top, bottom = row[0].top, row[0].bottom
    found = list(row)
    first = row[0].left - pitch * int(row[0].left // pitch)
    for step in range(int((mask.shape[1] - first) // pitch) + 1):
        left = round(first + step * pitch)
        right = left + width
        if right > mask.shape[1] or any(left < b.right and b.left < right for b in found):
            continue
        if _closed(mask, top, left, bottom, right, 0.15):
            found.append(FoundBox(top, left, bottom, right))
    return sorted(found, key=lambda b: b.left)


def _bands(flags: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive true values, as (start, stop) pairs."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, stops, strict=True))


def remove_rules(ink: np.ndarray) -> np.ndarray:
    """``ink`` (float32 in [0, 1]) without long horizontal lines: an underline, a form's rule,
    the lines of ruled paper, in the same colour as the ink.

    A rule is a thin run of ink at least a third as long as all the ink is wide (and at least
    40 pixels); a digit's own bars are far shorter. Where a stroke crosses the rule (ink just
    above and just below it), the crossing is kept, so the digit stays whole.
    """
    strong = ink > 0.35
    cols = np.flatnonzero(strong.any(axis=0))
    if cols.size == 0:
        return ink
    length = max(40, round(0.33 * (cols[-1] + 1 - cols[0])))
    if length > ink.shape[1]:
        return ink
    rule = ndimage.binary_opening(strong, structure=np.ones((1, length), bool))
    if not rule.any():
        return ink
    thickness = max(1, int(np.median(rule.sum(axis=0)[rule.any(axis=0)])))
    if thickness > 0.05 * ink.shape[0] + 3:
        return ink  # a thick band is a stroke of ink or a shadow, not a printed rule
    rule = ndimage.binary_dilation(rule, structure=np.ones((3, 1), bool))  # its soft edges
    stroke = strong & ~rule
    above = np.zeros_like(stroke)  # ink within reach above each pixel
    below = np.zeros_like(stroke)
    for shift in range(1, thickness + 3):
        above[shift:] |= stroke[:-shift]
        below[:-shift] |= stroke[shift:]
    crossing = rule & above & below
    cleaned: np.ndarray = ink.copy()
    cleaned[rule & ~crossing] = 0.0
    return cleaned
