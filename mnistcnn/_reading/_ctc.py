"""Decoding the line reader's scores: CTC's side of reading a line without cutting it first.

The network maps a line image to one score vector per :data:`~mnistcnn._input._lines.STRIDE`
columns over 11 classes: class 0 is CTC's *blank*, class ``d + 1`` is digit ``d``. Greedy
decoding (as PaddleOCR's ``CTCLabelDecode``) takes the best class of every column, merges
repeats and drops blanks; each digit's probability is the highest its class reaches over the
columns that emitted it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._input._lines import STRIDE

__all__ = ["LineDigit", "decode"]


@dataclass(frozen=True)
class LineDigit:
    """One digit decoded from a line: its label, probability and columns (line pixels)."""

    label: int
    probability: float
    start: int
    stop: int


def decode(logits: np.ndarray) -> list[LineDigit]:
    """Greedy CTC decoding of one line's scores, of shape (T, 11) (class 0 is blank).

    A digit's columns run from halfway after the previous emission to halfway before the next,
    so that the spans tile the line: each digit's box is the ink within its span.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1)
    runs: list[tuple[int, int, int, float]] = []  # class, first frame, last frame, peak
    previous = 0
    for frame, cls in enumerate(best.tolist()):
        if cls != 0 and cls == previous:
            label, first, _, peak = runs[-1]
            runs[-1] = (label, first, frame, max(peak, float(probabilities[frame, cls])))
        elif cls != 0:
            runs.append((cls, frame, frame, float(probabilities[frame, cls])))
        previous = cls
    digits = []
    total = len(best) * STRIDE
    for index, (cls, first, last, peak) in enumerate(runs):
        start = 0 if index == 0 else (runs[index - 1][2] + 1 + first) * STRIDE // 2
        stop = total if index == len(runs) - 1 else (last + 1 + runs[index + 1][1]) * STRIDE // 2
        digits.append(LineDigit(cls - 1, peak, start, stop))
    return digits
