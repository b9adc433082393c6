"""What several commands share: loading the model and the data, and counting in words."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._choices import Split
    from .._data._mnist import MnistDataset
    from .._inference._classifier import DigitClassifier

__all__ = ["USER_ERRORS", "counted", "load_model", "load_split"]

USER_ERRORS = (OSError, ValueError, TypeError)
"""Besides :class:`MnistCnnError`, what a user's input can make the library raise: reported in
one line, without a traceback."""

_PLURALS = {"process": "processes", "box": "boxes"}


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, agreeing in number: "1 file", "2 files", "1,000 processes".

    Examples:
        >>> counted(1, "digit"), counted(2, "digit"), counted(1234, "printed box")
        ('1 digit', '2 digits', '1,234 printed boxes')
    """
    if count == 1:
        return f"1 {noun}"
    head, _, last = noun.rpartition(" ")
    plural = _PLURALS.get(last, f"{last}s")
    return f"{count:,} {head + ' ' if head else ''}{plural}"


def load_split(args: argparse.Namespace, split: Split) -> MnistDataset:
    from .._data._mnist import load_data

    return load_data(
        split, root=args.data_dir, download=not args.no_download, progress=sys.stderr.isatty()
    )


def load_model(args: argparse.Namespace) -> DigitClassifier:
    from .._inference._classifier import DigitClassifier

    if args.model is None:
        return DigitClassifier.pretrained(backend=args.backend)
    return DigitClassifier.load(args.model, backend=args.backend)
