"""Reading a whole number (a postal code, say): find the digits in a picture, left to right.

Three ways in, chosen by what the picture holds:

- **Printed boxes** (a form's or an envelope's: red or green print, found and removed by
  colour, or print in the ink's own colour, found by its geometry; :mod:`mnistcnn._reading._forms`):
  each box is read as one digit, or reported empty.
- **Digits apart**: the ink is thresholded into connected pieces; pieces that overlap
  horizontally are one digit (the detached bar of a 5, a 0 drawn with a gap); specks, dots and
  dashes are dropped; each digit is normalised to MNIST's form and classified.
- **Digits touching or overlapping** (a piece of ink the segmentation would cut, or a piece
  wider than a digit where the sequence reader finds more digits than pieces): the whole line
  is read by the sequence reader (a CTC network, :mod:`mnistcnn._input._lines`) that needs no cuts
  between digits.
  ``method="segments"`` cuts touching digits at the thinnest ink columns instead (the 0.2
  way); ``method="sequence"`` always reads the whole line with the sequence reader.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, get_args

import numpy as np
from scipy import ndimage

from .._choices import ReadMethod
from .._errors import ImageError
from .._input._inputs import DigitPredictor, PictureInput, about, picture_colours
from .._input._lines import line_input
from .._input._pictures import (
    Blob,
    Box,
    digit_pieces,
    fit_and_centre,
    ink_blobs,
    ink_map,
    shrink,
    to_mnist,
)
from ._ctc import decode
from ._forms import FoundBox, erase_lines, find_boxes, ink_lines, separate_print

if TYPE_CHECKING:
    from .._engines._base import Backend

__all__ = [
    "PrintedBox",
    "PrintedBoxDict",
    "ReadDigit",
    "ReadDigitDict",
    "ReadMethod",
    "Reading",
    "ReadingDict",
    "check_read_options",
    "json_probability",
    "read_digits",
]


_DECIMALS = 6


def json_probability(value: float) -> float:
    """A probability as every result writes it (``--json``, results files, the server):
    rounded to 6 decimals, about the precision a float32 holds."""
    return round(float(value), _DECIMALS)


class ReadDigitDict(TypedDict):
    """One digit found: its label, probability, box (left, top, right, bottom; right and
    bottom exclusive) and whether the probability reached min_confidence."""

    label: int
    probability: float
    box: tuple[int, int, int, int]
    confident: bool


class PrintedBoxDict(TypedDict):
    """A box printed on a form (its inside, left, top, right, bottom) and the digit written
    in it, or null when it is empty."""

    box: tuple[int, int, int, int]
    digit: ReadDigitDict | None


class ReadingDict(TypedDict):
    """The digits read from a picture, left to right: the number as text, its probability
    (the product of the digits'), whether every digit reached min_confidence, each digit, and
    the printed boxes found (none unless the picture is a form)."""

    text: str
    probability: float
    confident: bool
    digits: list[ReadDigitDict]
    boxes: list[PrintedBoxDict]


_SPLIT_FROM = 0.95  # groups at least this much wider than high may be touching digits
_SPLIT_MARGIN = 0.15  # how much surer the classifier must be of the parts than of the whole
_TOO_WIDE = 1.25  # a digit is hardly ever this much wider than high, even slanted


@dataclass(frozen=True)
class ReadDigit:
    """One digit found in a picture.

    Attributes:
        label: the most probable digit.
        probability: its probability.
        box: (left, top, right, bottom) in the picture's pixels, right and bottom exclusive.
        confident: whether ``probability`` reached the ``min_confidence`` asked for.
    """

    label: int
    probability: float
    box: tuple[int, int, int, int]
    confident: bool

    def to_dict(self) -> ReadDigitDict:
        """The digit as JSON-ready data, as ``--json``, results files and the server give it."""
        return {
            "label": self.label,
            "probability": json_probability(self.probability),
            "box": self.box,
            "confident": self.confident,
        }


@dataclass(frozen=True)
class PrintedBox:
    """A box printed on the form, and the digit written in it.

    Attributes:
        box: the inside of the box, (left, top, right, bottom) in the picture's pixels.
        digit: the digit read in it, or ``None`` when the box is empty.
    """

    box: tuple[int, int, int, int]
    digit: ReadDigit | None

    def to_dict(self) -> PrintedBoxDict:
        """The box as JSON-ready data (``digit`` ``None`` when the box is empty)."""
        return {"box": self.box, "digit": None if self.digit is None else self.digit.to_dict()}


@dataclass(frozen=True)
class Reading:
    """The digits read from a picture, left to right.

    Attributes:
        text: the most likely number: every digit's best guess, uncertain ones included (an
            application applies its own rule to ``probability`` or each digit's
            ``confident``). Empty printed boxes add nothing to it.
        probability: the probability of the whole ``text``: the product of the digits'.
        digits: each digit's label, probability and bounding box.
        boxes: the printed boxes found (a form's or an envelope's), in reading order, each
            with its digit or ``None`` when empty; ``()`` when the picture has none.
    """

    text: str
    probability: float
    digits: tuple[ReadDigit, ...]
    boxes: tuple[PrintedBox, ...] = ()

    @property
    def confident(self) -> bool:
        """Whether every digit was read with at least ``min_confidence``."""
        return all(digit.confident for digit in self.digits)

    def to_dict(self) -> ReadingDict:
        """The reading as JSON-ready data: what ``mnistcnn predict --digits --json``, results
        files and ``POST /v1/read`` give, with the keys of these attributes.

        Examples:
            >>> reading = Reading("7", 0.9, (ReadDigit(7, 0.9, (2, 3, 20, 30), True),))
            >>> reading.to_dict()["digits"]
            [{'label': 7, 'probability': 0.9, 'box': (2, 3, 20, 30), 'confident': True}]
        """
        return {
            "text": self.text,
            "probability": json_probability(self.probability),
            "confident": self.confident,
            "digits": [digit.to_dict() for digit in self.digits],
            "boxes": [box.to_dict() for box in self.boxes],
        }

    def __str__(self) -> str:
        return self.text


@dataclass
class _Group(Box):
    top: int
    left: int
    bottom: int
    right: int
    area: int
    labels: list[int]

    @classmethod
    def of(cls, blob: Blob) -> _Group:
        return cls(blob.top, blob.left, blob.bottom, blob.right, blob.area, [blob.label])

    def absorb(self, other: _Group) -> None:
        self.top, self.left = min(self.top, other.top), min(self.left, other.left)
        self.bottom, self.right = max(self.bottom, other.bottom), max(self.right, other.right)
        self.area += other.area
        self.labels += other.labels


def read_digits(
    classifier: DigitPredictor,
    image: PictureInput,
    *,
    min_confidence: float = 0.5,
    method: ReadMethod = "auto",
) -> Reading:
    """Read every digit in ``image``, left to right. See :meth:`DigitClassifier.read_digits`."""
    check_read_options(min_confidence=min_confidence, method=method)
    gray, rgb = picture_colours(image)
    mask = None
    if rgb is not None:
        layer = separate_print(rgb)
        gray, mask = layer.gray, layer.mask
    small, scale = shrink(gray)
    with about(image):
        ink = ink_map(small)
        boxes = find_boxes(_shrink_mask(mask, small.shape)) if mask is not None else []
        if mask is None:  # boxes printed in the ink's own colour, if any
            sides = ink_lines(ink, pieces=True)
            boxes = find_boxes(sides) if sides is not None else []
            if boxes and sides is not None:
                ink = erase_lines(ink, sides)
        lines = ink_lines(ink)  # rules: underlines, ruled paper
        if lines is not None:
            ink = erase_lines(ink, lines)
        if boxes:
            found = _read_boxes(classifier, ink, boxes, scale, min_confidence)
            return _reading([b.digit for b in found if b.digit is not None], found)
        labels, blobs = ink_blobs(ink)
    groups = _drop_specks(_attach_fragments([_Group.of(b) for b in blobs]))
    if not groups:
        raise ImageError("no digit found in the picture.")
    judge = _Judge(classifier, ink, labels)
    height, _ = _reference(groups)
    groups = judge.merge_overlapping(sorted(groups, key=lambda g: (g.left + g.right) / 2), height)
    if method == "sequence":
        digits = _read_line(ink, labels, groups, scale, min_confidence)
        if not digits:
            raise ImageError("no digit found in the picture (the sequence reader read none).")
        return _reading(digits, ())
    candidates = [judge.split_if_better(group, height) for group in groups]
    if method == "auto":
        # Digits that touch (segmentation would cut a piece of ink, or a piece is wider than
        # a digit and the sequence reader finds more digits than there are pieces): the
        # sequence reader reads the whole line; digits apart: the classifier reads each.
        # Measured on held-out numbers, this beat the reader on the touching pieces alone
        # and the reader throughout, and reads digits apart as well as the classifier alone.
        line = _read_line(ink, labels, groups, scale, min_confidence)
        wide = any(g.width / max(g.height, height) >= _SPLIT_FROM for g in groups)
        touching = any(len(parts) >= 2 for parts in candidates) or (
            len(line) > len(groups) and wide
        )
        if touching and line:
            return _reading(line, ())
    digits = []
    for parts in candidates:
        for candidate in parts:
            probabilities = judge.probabilities(candidate)
            top, left, bottom, right = judge.box(candidate)
            digits.append(
                _digit(classifier, probabilities, (left, top, right, bottom), scale, min_confidence)
            )
    return _reading(digits, ())


def check_read_options(*, min_confidence: float, method: str) -> None:
    """Raise ``ValueError`` for a ``min_confidence`` outside [0, 1] or an unknown ``method``."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1]; got {min_confidence}.")
    methods = [repr(m) for m in get_args(ReadMethod)]
    if method not in get_args(ReadMethod):
        allowed = f"{', '.join(methods[:-1])} or {methods[-1]}"
        raise ValueError(f"method must be {allowed}; got {method!r}.")


def _reading(digits: list[ReadDigit], boxes: tuple[PrintedBox, ...] | list[PrintedBox]) -> Reading:
    text = "".join(str(d.label) for d in digits)
    probability = math.prod(d.probability for d in digits)
    return Reading(text, probability, tuple(digits), tuple(boxes))


def _digit(
    classifier: DigitPredictor,
    probabilities: np.ndarray,
    box: tuple[int, int, int, int],
    scale: float,
    min_confidence: float,
) -> ReadDigit:
    """A classified digit; ``box`` (left, top, right, bottom) in working pixels."""
    label = int(classifier.classes_[int(probabilities.argmax())])
    probability = float(probabilities.max())
    return ReadDigit(label, probability, _picture_box(box, scale), probability >= min_confidence)


def _picture_box(box: tuple[int, int, int, int], scale: float) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    return (round(left / scale), round(top / scale), round(right / scale), round(bottom / scale))


def _shrink_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    zoom = (shape[0] / mask.shape[0], shape[1] / mask.shape[1])
    small: np.ndarray = ndimage.zoom(mask.astype(np.float32), zoom, order=1) > 0.3
    return small[: shape[0], : shape[1]]


def _read_boxes(
    classifier: DigitPredictor,
    ink: np.ndarray,
    boxes: list[FoundBox],
    scale: float,
    min_confidence: float,
) -> list[PrintedBox]:
    """One digit per printed box: the ink within the box and just around it (a stroke may run
    over the printed line), or nothing when the box holds no more than specks."""
    found = []
    glyphs, places = [], []
    for index, box in enumerate(boxes):
        box_height, box_width = box.bottom - box.top, box.right - box.left
        reach_y, reach_x = box_height // 4, box_width // 4
        top, left = max(0, box.top - reach_y), max(0, box.left - reach_x)
        bottom = min(ink.shape[0], box.bottom + reach_y)
        right = min(ink.shape[1], box.right + reach_x)
        window = ink[top:bottom, left:right]
        inside = (slice(box.top - top, box.bottom - top), slice(box.left - left, box.right - left))
        pieces = _pieces_in_box(window, inside, box_height)
        picture_box = _picture_box((box.left, box.top, box.right, box.bottom), scale)
        found.append(PrintedBox(picture_box, None))
        if pieces is not None:
            labels, blobs = pieces
            glyphs.append(to_mnist(window, labels, blobs))
            places.append((index, top, left, blobs))
    if glyphs:
        probabilities = classifier.predict_proba(np.stack(glyphs), preprocess="raw")
        for (index, top, left, blobs), row in zip(places, probabilities, strict=True):
            ink_box = (
                left + min(b.left for b in blobs),
                top + min(b.top for b in blobs),
                left + max(b.right for b in blobs),
                top + max(b.bottom for b in blobs),
            )
            digit = _digit(classifier, row, ink_box, scale, min_confidence)
            found[index] = PrintedBox(found[index].box, digit)
    return found


def _pieces_in_box(
    window: np.ndarray, inside: tuple[slice, slice], box_height: int
) -> tuple[np.ndarray, list[Blob]] | None:
    """The ink pieces of the digit written in a box, or ``None`` for an empty box."""
    if float(window[inside].max(initial=0.0)) < 0.3:
        return None
    try:
        labels, blobs = ink_blobs(window)
    except ImageError:
        return None
    rows, cols = inside
    centred = [
        blob
        for blob in blobs
        if rows.start <= (blob.top + blob.bottom) / 2 < rows.stop
        and cols.start <= (blob.left + blob.right) / 2 < cols.stop
    ]
    if not centred or max(b.height for b in centred) < 0.25 * box_height:
        return None  # specks or dust only
    return labels, digit_pieces(centred)


_reader_lock = threading.Lock()
_reader: Backend | None = None


def _line_reader() -> Backend:
    """The shipped sequence reader, loaded once per process, on the fastest engine installed:
    ONNX Runtime (the ``onnx`` extra; no Paddle is imported), else Paddle's dynamic graph."""
    global _reader
    with _reader_lock:
        if _reader is None:
            from .._formats._loading import open_model
            from .._models._weights import READER, WEIGHTS_DIR

            _reader = open_model(
                WEIGHTS_DIR / READER, backend=None, architecture=None, num_threads=None
            ).backend
        return _reader


def _read_line(
    ink: np.ndarray,
    labels: np.ndarray,
    groups: list[_Group],
    scale: float,
    min_confidence: float,
) -> list[ReadDigit]:
    """The digits of ``groups`` read as one line by the sequence reader."""
    top = min(g.top for g in groups)
    left = min(g.left for g in groups)
    bottom = max(g.bottom for g in groups)
    right = max(g.right for g in groups)
    window_labels = labels[top:bottom, left:right]
    keep = np.isin(window_labels, [label for g in groups for label in g.labels])
    keep = ndimage.binary_dilation(keep, iterations=1)
    window = np.where(keep, ink[top:bottom, left:right], 0.0).astype(np.float32)
    line, line_scale, origin, _ = line_input(window)
    scores = _line_reader().run(line[None, None])[0]
    digits = []
    for found in decode(scores):
        start = max(0, int(origin + found.start / line_scale))
        stop = min(window.shape[1], max(start + 1, math.ceil(origin + found.stop / line_scale)))
        rows = np.flatnonzero(keep[:, start:stop].any(axis=1))
        first, last = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, window.shape[0])
        box = (left + start, top + first, left + stop, top + last)
        digit = ReadDigit(
            found.label,
            found.probability,
            _picture_box(box, scale),
            found.probability >= min_confidence,
        )
        digits.append(digit)
    return digits


@dataclass(frozen=True)
class _Candidate:
    """A possible digit: some ink components, limited to a range of columns."""

    labels: tuple[int, ...]
    left: int
    right: int


class _Judge:
    """Decides between segmentations by asking the classifier how sure it is of each."""

    def __init__(self, classifier: DigitPredictor, ink: np.ndarray, labels: np.ndarray) -> None:
        self.classifier = classifier
        self.ink = ink
        self.labels = labels
        self._cache: dict[_Candidate, np.ndarray] = {}

    def box(self, candidate: _Candidate) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of the candidate's ink."""
        window = np.isin(self.labels[:, candidate.left : candidate.right], candidate.labels)
        rows = np.flatnonzero(window.any(axis=1))
        cols = np.flatnonzero(window.any(axis=0))
        return (
            int(rows[0]),
            candidate.left + int(cols[0]),
            int(rows[-1]) + 1,
            candidate.left + int(cols[-1]) + 1,
        )

    def probabilities(self, candidate: _Candidate) -> np.ndarray:
        if candidate not in self._cache:
            top, left, bottom, right = self.box(candidate)
            mask = np.isin(self.labels[top:bottom, left:right], candidate.labels)
            glyph = (self.ink[top:bottom, left:right] * mask).astype(np.float32)
            pixels = fit_and_centre(glyph)
            self._cache[candidate] = self.classifier.predict_proba(pixels, preprocess="raw")[0]
        return self._cache[candidate]

    def confidence(self, candidate: _Candidate) -> float:
        return float(self.probabilities(candidate).max())

    @staticmethod
    def whole(group: _Group) -> _Candidate:
        return _Candidate(tuple(sorted(group.labels)), group.left, group.right)

    def merge_overlapping(self, groups: list[_Group], height: float) -> list[_Group]:
        """Join neighbours that overlap horizontally when the union is no wider than a digit
        and the classifier is surer of it than of either part: a 0 drawn with a gap, a 4
        whose strokes do not meet."""
        index = 0
        while index < len(groups) - 1:
            first, second = groups[index], groups[index + 1]
            overlap = min(first.right, second.right) - max(first.left, second.left)
            union_width = max(first.right, second.right) - min(first.left, second.left)
            if overlap > 0.3 * min(first.width, second.width) and union_width <= height:
                union = _Group(first.top, first.left, first.bottom, first.right, first.area, [])
                union.labels = list(first.labels)
                union.absorb(second)
                separate = max(
                    self.confidence(self.whole(first)), self.confidence(self.whole(second))
                )
                if self.confidence(self.whole(union)) > separate:
                    groups[index : index + 2] = [union]
                    continue
            index += 1
        return groups

    def split_if_better(self, group: _Group, height: float) -> list[_Candidate]:
        """The group as one digit, or cut into two or three touching digits at the thinnest
        ink columns, whichever the classifier is surer of."""
        whole = self.whole(group)
        aspect = group.width / max(group.height, height)
        if aspect < _SPLIT_FROM:
            return [whole]
        window = self.ink[group.top : group.bottom, group.left : group.right] * np.isin(
            self.labels[group.top : group.bottom, group.left : group.right], group.labels
        )
        best, best_score = [whole], self.confidence(whole)
        for count in (2, 3) if group.width > 1.6 * height else (2,):
            cuts = _cut_columns(window, count)
            parts = [_Candidate(whole.labels, group.left + a, group.left + b) for a, b in cuts]
            if len(parts) < 2 or min(p.right - p.left for p in parts) < 0.25 * height:
                continue
            if not all(
                np.isin(self.labels[:, p.left : p.right], whole.labels).any() for p in parts
            ):
                continue
            score = float(np.mean([self.confidence(p) for p in parts]))
            # Wider than any single digit: the parts win unless the classifier clearly objects.
            margin = _SPLIT_MARGIN if aspect < _TOO_WIDE else -2 * _SPLIT_MARGIN
            if score > best_score + margin:
                best, best_score = parts, score
        return best


def _attach_fragments(groups: list[_Group]) -> list[_Group]:
    """Join a fragment (a piece much smaller and shorter than a digit, such as the arm of a 4
    whose crossbar broke, the detached bar of a 5) to its nearest neighbour, if that is close
    and the union not much wider than a digit is high."""
    while len(groups) > 1:
        height, area = _reference(groups)
        best: tuple[float, _Group, _Group] | None = None
        for piece in groups:
            flat = piece.height < 0.5 * height  # a bar or a dash
            small = piece.area < 0.45 * area and piece.height < 0.8 * height
            if not (flat or small):
                continue
            # A bar joins only what it lies over or under; a dash between digits stays apart.
            reach = 0.0 if flat else 0.25 * height
            for other in groups:
                if other is piece:
                    continue
                gap = max(other.left - piece.right, piece.left - other.right)
                union = max(piece.right, other.right) - min(piece.left, other.left)
                if gap <= reach and union <= 1.5 * height and (best is None or gap < best[0]):
                    best = (gap, piece, other)
        if best is None:
            break
        _, piece, other = best
        other.absorb(piece)
        groups.remove(piece)
    return groups


def _reference(groups: list[_Group]) -> tuple[float, float]:
    """Typical digit height and area: medians over the groups of substantial size."""
    largest = max(g.area for g in groups)
    big = [g for g in groups if g.area >= 0.25 * largest]
    tallest = max(g.height for g in big)
    digits = [g for g in big if g.height >= 0.6 * tallest]  # not bars, dashes or fragments
    return float(np.median([g.height for g in digits])), float(np.median([g.area for g in digits]))


def _drop_specks(groups: list[_Group]) -> list[_Group]:
    """Drop what is much smaller than the digits: dust, dots, dashes."""
    if not groups:
        return groups
    largest = max(g.area for g in groups)
    height, _ = _reference(groups)
    return [g for g in groups if g.height >= 0.45 * height and g.area >= 0.08 * largest]


def _cut_columns(window: np.ndarray, count: int) -> list[tuple[int, int]]:
    """Column ranges cutting ``window`` into ``count`` parts at the thinnest ink column near
    each equal division."""
    width = window.shape[1]
    profile = window.sum(axis=0)
    cuts = [0]
    for k in range(1, count):
        expected = k * width / count
        low = int(max(cuts[-1] + 1, expected - 0.3 * width / count))
        high = int(min(width - 1, expected + 0.3 * width / count))
        if high <= low:
            continue
        cuts.append(low + int(np.argmin(profile[low:high])))
    cuts.append(width)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
