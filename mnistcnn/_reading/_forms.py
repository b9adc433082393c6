"""Printed forms: coloured print told apart from ink, and the printed boxes digits are written in.

Forms print their boxes, grids and guide lines in a colour the writer's pen is not: the six
postal-code boxes of a Chinese envelope are red, bank and remittance forms often green. Such
print is found by colour (a clearly red or green pixel; blue and black pens are neither) and
painted over with the paper's own level before the ink is extracted, so a line that crosses a
digit takes none of the digit with it: where the pen crossed the print, the pixel has the ink's
colour and stays. Boxes are then found from where the print's lines run (:func:`find_boxes`).

Print in the ink's own colour (a photocopied form, black rules) cannot be told apart by colour;
its lines are found by their geometry instead (:func:`ink_lines`) and erased where no stroke
crosses them (:func:`erase_lines`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "PrintLayer",
    "erase_lines",
    "find_boxes",
    "ink_lines",
    "separate_print",
]

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


def _bands(flags: np.ndarray | np.bool_) -> list[tuple[int, int]]:
    """Runs of consecutive true values, as (start, stop) pairs."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, stops, strict=True))


def ink_lines(ink: np.ndarray, *, pieces: bool = False) -> np.ndarray | None:
    """Where lines are printed in the ink's own colour (black or blue print): long horizontal
    rules (an underline, a form's rule, ruled paper) and the vertical sides of boxes between
    two rules; ``None`` when there are none.

    A rule is a thin line of ink at least a third as long as all the ink is wide (and at least
    40 pixels): a digit's own bars are far shorter. With ``pieces``, straight pieces along one
    row that add up to that length count too (the tops of a row of separate boxes); touching
    digits' bars can line up like that, so such lines are only taken for boxes once
    :func:`find_boxes` finds boxes in them. Between two rules, a thin column of ink that runs
    almost all the way from one to the other is a box's side.
    """
    strong = ink > 0.35
    cols = np.flatnonzero(strong.any(axis=0))
    if cols.size == 0:
        return None
    length = max(40, round(0.33 * (cols[-1] + 1 - cols[0])))
    if length > ink.shape[1]:
        return None
    if pieces:
        run = max(15, length // 8)
        segments = ndimage.binary_opening(strong, structure=np.ones((1, run), bool))
        rule = segments & (segments.sum(axis=1) >= length)[:, None]
    else:
        rule = ndimage.binary_opening(strong, structure=np.ones((1, length), bool))
    rule = _bare(np.asarray(rule, dtype=bool), strong)
    if not rule.any():
        return None
    thickness = max(1, int(np.median(rule.sum(axis=0)[rule.any(axis=0)])))
    if thickness > 0.05 * ink.shape[0] + 3:
        return None  # a thick band is a stroke of ink or a shadow, not a printed rule
    lines: np.ndarray = rule.copy()
    rows = _bands(rule.any(axis=1))
    for (first, top), (bottom, last) in itertools.pairwise(rows):
        if bottom - top < 8:
            continue
        span = rule[first:top].any(axis=0) & rule[bottom:last].any(axis=0)  # under both
        sides = (strong[top:bottom].mean(axis=0) >= 0.9) & span
        for left, right in _bands(sides):
            if right - left <= 2 * thickness + 2:  # thin: a printed side, not a digit
                lines[first:last, left:right] |= strong[first:last, left:right]
    return lines


def _bare(rule: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """The bands of ``rule`` that are bare along most of their length, as printed lines are:
    no other ink just above or below them. A run of touching digits' bars is not."""
    kept: np.ndarray = np.zeros_like(rule)
    for first, last in _bands(rule.any(axis=1)):
        columns = rule[first:last].any(axis=0)
        margin = 2 * (last - first) + 2
        around = strong[max(0, first - margin) : last + margin].sum(axis=0)
        bare = around[columns] <= (last - first) + 2
        if bare.mean() >= 0.5:
            kept[first:last] = rule[first:last]
    return kept


def erase_lines(ink: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """``ink`` without the printed ``lines``, except where a stroke crosses one (ink on both
    sides of it, above and below or left and right), so that a digit written over a line
    stays whole."""
    strong = ink > 0.35
    lines = ndimage.binary_dilation(lines, iterations=1)  # their soft edges
    stroke = strong & ~lines
    reach = 6
    above, below = np.zeros_like(stroke), np.zeros_like(stroke)
    left, right = np.zeros_like(stroke), np.zeros_like(stroke)
    for shift in range(1, reach + 1):
        above[shift:] |= stroke[:-shift]
        below[:-shift] |= stroke[shift:]
        left[:, shift:] |= stroke[:, :-shift]
        right[:, :-shift] |= stroke[:, shift:]
    crossing = lines & ((above & below) | (left & right))
    cleaned: np.ndarray = ink.copy()
    cleaned[lines & ~crossing] = 0.0
    return cleaned
