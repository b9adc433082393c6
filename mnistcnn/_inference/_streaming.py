"""Recognising the digits of very many files: found lazily, read a batch at a time.

:func:`find_images` walks directory trees, glob patterns and file lists without ever holding
the whole list; :func:`predict_files` turns those files into one :class:`FilePrediction` each, in
order, a batch of files at a time, so that memory stays the same for ten files or ten million;
:func:`read_files` reads a whole number from each file into a :class:`FileReading`. A file that
cannot be read becomes a result with an ``error``, and the files after it are still read.

Each result has one JSON-ready form, its ``to_dict()``: what ``mnistcnn predict --json`` prints,
what results files hold and (without ``file``) what the server answers.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TypedDict, cast

import numpy as np

from .._choices import Preprocess, ReadMethod
from .._errors import ImageError, MnistCnnError
from .._input._inputs import DigitPredictor, check_options, picture_unit
from .._reading._numbers import (
    PrintedBoxDict,
    ReadDigitDict,
    Reading,
    check_read_options,
    json_probability,
    read_digits,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "FilePrediction",
    "FilePredictionDict",
    "FileReading",
    "FileReadingDict",
    "PredictionDict",
    "file_error",
    "find_images",
    "predict_dict",
    "predict_files",
    "read_files",
]

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)
"""The file name endings a directory walk takes as pictures (in any case)."""

_FILE_ERRORS = (MnistCnnError, OSError, ValueError, TypeError)
"""What reading one file can raise: the file's own problem, reported in its row."""


class _PredictionFields(TypedDict):
    label: int
    probability: float
    probabilities: list[float]


class PredictionDict(_PredictionFields, total=False):
    """The digit in one picture: the most probable label, its probability, and the
    probability of each class in the order of the model's classes (digits 0-9 for the shipped
    model); with include=model_input, also the 28x28 picture the network saw (light ink, 255,
    on black, 0)."""

    model_input: list[list[int]]


def predict_dict(probabilities: np.ndarray, classes: np.ndarray) -> PredictionDict:
    """The JSON-ready prediction for one row of :meth:`DigitClassifier.predict_proba`."""
    best = int(probabilities.argmax())
    return {
        "label": int(classes[best]),
        "probability": json_probability(probabilities[best]),
        "probabilities": [json_probability(p) for p in probabilities],
    }


class _FileField(TypedDict):
    file: str


class FilePredictionDict(_FileField, total=False):
    """One file's row: ``file`` and the prediction's keys, or ``file`` and ``error``."""

    label: int
    probability: float
    probabilities: list[float]
    error: str


class FileReadingDict(_FileField, total=False):
    """One file's row: ``file`` and the reading's keys, or ``file`` and ``error``."""

    text: str
    probability: float
    confident: bool
    digits: list[ReadDigitDict]
    boxes: list[PrintedBoxDict]
    error: str


@dataclass(frozen=True)
class FilePrediction:
    """The digit recognised in one file, or why it could not be.

    Attributes:
        file: the path, as :func:`find_images` found it.
        label: the most probable digit; ``None`` when the file could not be read.
        probability: the probability of ``label``; ``None`` on error.
        probabilities: float32 array of shape (10,), one per class; ``None`` on error.
        error: what went wrong with this file, or ``None``.
        model_input: uint8 array of shape (28, 28), the picture as the network saw it
            (:meth:`DigitClassifier.preprocess`); ``None`` on error.
    """

    file: str
    label: int | None = None
    probability: float | None = None
    probabilities: np.ndarray | None = None
    error: str | None = None
    model_input: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        """Whether the file was read."""
        return self.error is None

    def to_dict(self) -> FilePredictionDict:
        """The result as JSON-ready data: ``file``, ``label``, ``probability`` and
        ``probabilities`` (rounded to 6 decimals), or ``file`` and ``error``.

        Examples:
            >>> FilePrediction("a.png", error="a.png: not a readable image").to_dict()
            {'file': 'a.png', 'error': 'a.png: not a readable image'}
        """
        if self.probabilities is None or self.label is None:
            return {"file": self.file, "error": self.error or "not read"}
        return {
            "file": self.file,
            "label": self.label,
            "probability": json_probability(self.probability or 0.0),
            "probabilities": [json_probability(p) for p in self.probabilities],
        }


@dataclass(frozen=True)
class FileReading:
    """The number read in one file, or why it could not be.

    Attributes:
        file: the path, as given.
        reading: what :meth:`DigitClassifier.read_digits` read; ``None`` on error.
        error: what went wrong with this file, or ``None``.
    """

    file: str
    reading: Reading | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the file was read."""
        return self.error is None

    def to_dict(self) -> FileReadingDict:
        """The result as JSON-ready data: ``file`` and the keys of :meth:`Reading.to_dict`,
        or ``file`` and ``error``."""
        if self.reading is None:
            return {"file": self.file, "error": self.error or "not read"}
        # The reading's own keys after "file" (mypy wants "error" named in a ** literal).
        return cast(FileReadingDict, {"file": self.file, **self.reading.to_dict()})


def find_images(
    *sources: str | os.PathLike[str], on_error: Callable[[str, OSError], None] | None = None
) -> Iterator[str]:
    """The picture files named by ``sources``, found one at a time.

    A file is yielded as named (whatever its ending); a directory is walked with all its
    subdirectories, in sorted order, yielding the files whose ending is in
    :data:`IMAGE_SUFFIXES`; a glob pattern (``scans/**/*.png``) yields its matches in sorted
    order. Only one directory's listing is held at a time, so a tree of any size streams.
    Symbolic links to directories are not followed (they could loop).

    Args:
        sources: files, directories and glob patterns.
        on_error: called with a directory's path and the error when it cannot be listed
            (no permission, removed meanwhile); by default the error is raised.

    Returns:
        An iterator of paths as strings: directories joined with the names found in them.

    Raises:
        ImageNotFoundError: a source that is neither a file, a directory nor a pattern with
            matches.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("b/2.png", "a/1.PNG", "a/notes.txt"):
        ...     (root / name).parent.mkdir(exist_ok=True)
        ...     (root / name).touch()
        >>> [str(pathlib.Path(f).relative_to(root)) for f in find_images(root)]
        ['a/1.PNG', 'b/2.png']
    """
    from .._errors import ImageNotFoundError

    for source in sources:
        name = os.fspath(source)
        if os.path.isdir(name):
            yield from _walk(name, on_error)
        elif os.path.exists(name):
            yield name
        elif glob.has_magic(name):
            matched = False
            for match in sorted(glob.iglob(name, recursive=True)):
                matched = True
                if os.path.isdir(match):
                    yield from _walk(match, on_error)
                else:
                    yield match
            if not matched:
                raise ImageNotFoundError(f"{name}: no file matches this pattern.")
        else:
            raise ImageNotFoundError(f"{name}: no such file or directory.")


def read_file_list(lines: Iterable[str]) -> Iterator[str]:
    """The paths in a file list, one per line (blank lines and ``#`` comments skipped)."""
    for line in lines:
        path = line.rstrip("\r\n")
        if path.strip() and not path.lstrip().startswith("#"):
            yield path


def _walk(top: str, on_error: Callable[[str, OSError], None] | None) -> Iterator[str]:
    def failed(exc: OSError) -> None:
        if on_error is None:
            raise exc
        on_error(exc.filename or top, exc)

    # os.walk lists one directory at a time; sorting it in place orders both the files and
    # the order in which subdirectories are entered.
    for folder, subfolders, files in os.walk(top, onerror=failed):
        subfolders.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                yield os.path.join(folder, name)


def predict_files(
    classifier: DigitPredictor,
    files: Iterable[str | os.PathLike[str]],
    *,
    batch_size: int = 64,
    preprocess: Preprocess = "auto",
    threads: int = 1,
) -> Iterator[FilePrediction]:
    """What :meth:`DigitClassifier.predict_files` does (see there); the options are checked
    at once, the files when the results are asked for."""
    check_options(batch_size=batch_size, preprocess=preprocess)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer of at least 1; got {threads!r}.")
    return _predict_files(
        classifier, (os.fspath(f) for f in files), batch_size, preprocess, threads
    )


def _predict_files(
    classifier: DigitPredictor,
    names: Iterator[str],
    batch_size: int,
    preprocess: Preprocess,
    threads: int,
) -> Iterator[FilePrediction]:
    def picture(name: str) -> np.ndarray | str:
        try:
            return picture_unit(name, preprocess)
        except _FILE_ERRORS as exc:
            return file_error(name, exc)

    if threads == 1:  # decoding is mostly Python holding the GIL: one thread is fastest
        while batch := list(islice(names, batch_size)):
            yield from _classify(classifier, [(name, picture(name)) for name in batch])
        return

    def submit_batch(pool: ThreadPoolExecutor) -> list[tuple[str, Future[np.ndarray | str]]]:
        return [(name, pool.submit(picture, name)) for name in islice(names, batch_size)]

    # Files on a slow disk or a network file system: reading runs ahead of the network by
    # one batch, never more, so memory stays bounded.
    with ThreadPoolExecutor(threads, thread_name_prefix="mnistcnn-decode") as pool:
        pending = submit_batch(pool)
        while pending:
            following = submit_batch(pool)
            yield from _classify(classifier, [(name, job.result()) for name, job in pending])
            pending = following


def _classify(
    classifier: DigitPredictor, decoded: list[tuple[str, np.ndarray | str]]
) -> Iterator[FilePrediction]:
    pictures = [item for _, item in decoded if not isinstance(item, str)]
    rows = (
        classifier.predict_proba(np.stack(pictures), preprocess="raw")
        if pictures
        else np.empty((0, len(classifier.classes_)), np.float32)
    )
    classes = classifier.classes_
    row = iter(rows)
    for name, item in decoded:
        if isinstance(item, str):
            yield FilePrediction(name, error=item)
            continue
        probabilities = next(row)
        best = int(probabilities.argmax())
        yield FilePrediction(
            name,
            label=int(classes[best]),
            probability=float(probabilities[best]),
            probabilities=probabilities,
            model_input=np.round(item * 255).astype(np.uint8),
        )


def read_files(
    classifier: DigitPredictor,
    files: Iterable[str | os.PathLike[str]],
    *,
    min_confidence: float = 0.5,
    method: ReadMethod = "auto",
) -> Iterator[FileReading]:
    """What :meth:`DigitClassifier.read_files` does (see there); the options are checked at
    once, the files when the results are asked for."""
    check_read_options(min_confidence=min_confidence, method=method)
    return _read_files(classifier, (os.fspath(f) for f in files), min_confidence, method)


def _read_files(
    classifier: DigitPredictor, names: Iterator[str], min_confidence: float, method: ReadMethod
) -> Iterator[FileReading]:
    for name in names:
        try:
            reading = read_digits(classifier, name, min_confidence=min_confidence, method=method)
        except _FILE_ERRORS as exc:
            yield FileReading(name, error=file_error(name, exc))
            continue
        yield FileReading(name, reading)


def file_error(name: str, exc: BaseException) -> str:
    """The error of one file, naming it once."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, ImageError) and exc.strerror:
        text = exc.strerror
    return text if name in text else f"{name}: {text}"
