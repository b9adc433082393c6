"""Reading a whole number (a postal code, say): find the digits in a picture, left to right.

The ink is thresholded into connected pieces (as for one digit); pieces that overlap
horizontally are one digit (the detached bar of a 5 or a 7, a 0 drawn with a gap); a piece much
wider than a digit is several touching digits, cut where the column profile of the ink is
thinnest; specks, dots and dashes (much smaller than the digits) are dropped. Each digit is then
normalised to MNIST's form and all are classified in one batch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._errors import ImageError
from ._inputs import PictureInput, about, picture_gray
from ._pictures import Blob, Box, fit_and_centre, ink_blobs, ink_map, shrink

if TYPE_CHECKING:
    from ._classifier import DigitClassifier

__all__ = ["ReadDigit", "Reading", "read_digits"]

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


@dataclass(frozen=True)
class Reading:
    """The digits read from a picture, left to right.

    Attributes:
        text: the number, with ``?`` for each digit read with less than ``min_confidence``.
        digits: each digit's label, probability and bounding box.
    """

    text: str
    digits: tuple[ReadDigit, ...]

    @property
    def confident(self) -> bool:
        """Whether every digit was read with at least ``min_confidence``."""
        return all(digit.confident for digit in self.digits)

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
    classifier: DigitClassifier,
    image: PictureInput,
    *,
    min_confidence: float = 0.5,
) -> Reading:
    """Read every digit in ``image``, left to right. See :meth:`DigitClassifier.read_digits`."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1]; got {min_confidence}.")
    gray = picture_gray(image)
    small, scale = shrink(gray)
    with about(image):
        ink = ink_map(small)
        labels, blobs = ink_blobs(ink)
    groups = _drop_specks(_attach_fragments([_Group.of(b) for b in blobs]))
    if not groups:
        raise ImageError("no digit found in the picture.")
    judge = _Judge(classifier, ink, labels)
    height, _ = _reference(groups)
    groups = judge.merge_overlapping(sorted(groups, key=lambda g: (g.left + g.right) / 2), height)
    candidates = [part for group in groups for part in judge.split_if_better(group, height)]
    digits = []
    for candidate in candidates:
        probabilities = judge.probabilities(candidate)
        label = int(classifier.classes_[int(probabilities.argmax())])
        probability = float(probabilities.max())
        top, left, bottom, right = judge.box(candidate)
        box = (round(left / scale), round(top / scale), round(right / scale), round(bottom / scale))
        digits.append(ReadDigit(label, probability, box, probability >= min_confidence))
    text = "".join(str(d.label) if d.confident else "?" for d in digits)
    return Reading(text, tuple(digits))


@dataclass(frozen=True)
class _Candidate:
    """A possible digit: some ink components, limited to a range of columns."""

    labels: tuple[int, ...]
    left: int
    right: int


class _Judge:
    """Decides between segmentations by asking the classifier how sure it is of each."""

    def __init__(self, classifier: DigitClassifier, ink: np.ndarray, labels: np.ndarray) -> None:
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
