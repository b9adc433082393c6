"""Results files (``mnistcnn predict --output``): CSV or JSON Lines, one row per file.

Rows are appended and flushed as each file is done, so a run that is stopped (Ctrl-C, a crash,
a power cut) keeps everything before it. Opening an existing results file resumes it: the files
it already holds a row for are skipped, and an incomplete last row (cut off mid-write) is dropped.
A file that is not a results file of the same kind is refused, never overwritten.

A JSON Lines row is the result's ``to_dict()``; a CSV row holds the same values in columns. The
columns are those of 0.6, so its files resume.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, NoReturn

import numpy as np

from .._errors import ResultsFileError
from ._streaming import FilePrediction, FileReading

__all__ = ["ResultsFile", "ResultsKind"]

logger = logging.getLogger(__name__)

ResultsKind = Literal["digit", "number"]

_COLUMNS: dict[ResultsKind, tuple[str, ...]] = {
    "digit": ("file", "label", "probability", *(f"p{d}" for d in range(10)), "error"),
    "number": ("file", "text", "probability", "confident", "unsure", "error"),
}
"""CSV columns of each kind: one digit per file, or a whole number per file (``--digits``)."""

_RESULT_KEY: dict[ResultsKind, str] = {"digit": "label", "number": "text"}
"""The key a JSON row of each kind has when the file was read."""


class ResultsFile:
    """A results file: one row per file, appended as results come, resumed when opened again.

    Rows are flushed as they are written, so a run that is stopped keeps every row before it.
    Opening an existing results file resumes it: :meth:`remaining` leaves out the files it
    already has a row for, and a last row cut off mid-write is dropped (that file is read
    again). A file that is not a results file of the same kind is refused, never overwritten.

    Args:
        path: ``*.csv`` or ``*.jsonl`` (``*.ndjson``, ``*.json`` hold JSON Lines too).
        kind: ``"digit"`` (a :class:`FilePrediction` per file, from
            :meth:`DigitClassifier.predict_files`) or ``"number"`` (a :class:`FileReading` per
            file, from :meth:`DigitClassifier.read_files`).

    Raises:
        ValueError: a path ending in anything else.
        ResultsFileError: ``path`` exists and is not a results file of this kind.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image, ImageDraw
        >>> from mnistcnn import DigitClassifier, find_images
        >>> folder = Path(tempfile.mkdtemp())
        >>> page = Image.new("L", (60, 80), 255)
        >>> ImageDraw.Draw(page).line([(30, 10), (30, 70)], fill=0, width=6)
        >>> page.save(folder / "one.png")
        >>> _ = (folder / "two.png").write_bytes(b"not a picture")
        >>> classifier = DigitClassifier.pretrained()
        >>> def run():
        ...     with ResultsFile(folder / "results.csv", kind="digit") as results:
        ...         todo = results.remaining(find_images(folder))
        ...         for result in classifier.predict_files(todo):
        ...             results.write(result)
        ...     return results
        >>> first = run()
        >>> first.written, first.failed
        (2, 1)
        >>> header, one, two = (folder / "results.csv").read_text().splitlines()
        >>> header[:22], one.split(",")[1], "not a readable image" in two
        ('file,label,probability', '1', True)
        >>> again = run()  # nothing left to do
        >>> again.resumed, again.written
        (2, 0)
    """

    def __init__(self, path: str | os.PathLike[str], *, kind: ResultsKind) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            self.format: Literal["csv", "jsonl"] = "csv"
        elif suffix in (".jsonl", ".ndjson", ".json"):
            self.format = "jsonl"
        else:
            raise ValueError(
                f"{self.path}: the output must end in .csv or .jsonl (JSON Lines); got "
                f"{suffix or 'no ending'}."
            )
        if kind not in _COLUMNS:
            raise ValueError(f"kind must be 'digit' or 'number'; got {kind!r}.")
        self.kind: ResultsKind = kind
        self._done = np.empty(0, np.uint64)
        self.resumed = 0
        """Rows found in the file when it was opened."""
        self.failed_before = 0
        """Error rows among them."""
        self.written = 0
        """Rows written since it was opened."""
        self.failed = 0
        """Error rows among them."""
        self._stream: io.TextIOWrapper | None = None
        if self.path.exists():
            self._read_existing()

    def done(self, file: str) -> bool:
        """Whether the file already has a row (from a previous run)."""
        if not len(self._done):
            return False
        key = _key(file)
        index = int(np.searchsorted(self._done, key))
        return index < len(self._done) and int(self._done[index]) == key

    def remaining(self, files: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
        """The files of ``files`` that have no row yet, lazily, in order."""
        for file in files:
            name = os.fspath(file)
            if not self.done(name):
                yield name

    def write(self, result: FilePrediction | FileReading) -> None:
        """Append one file's row and flush it.

        Raises:
            TypeError: a :class:`FileReading` in a ``"digit"`` file, or a
                :class:`FilePrediction` in a ``"number"`` one.
        """
        expected = FilePrediction if self.kind == "digit" else FileReading
        if not isinstance(result, expected):
            raise TypeError(
                f"a results file of kind {self.kind!r} takes {expected.__name__} results; "
                f"got {type(result).__name__}."
            )
        row = result.to_dict()
        if self._stream is None:
            self._open()
        assert self._stream is not None  # for mypy: _open() sets it
        if self.format == "jsonl":
            self._stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            csv.writer(self._stream, lineterminator="\n").writerow(self._csv_row(row))
        self._stream.flush()
        self.written += 1
        self.failed += not result.ok

    def close(self) -> None:
        if self._stream is not None:
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()
            self._stream = None

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if new and self.format == "csv":
            csv.writer(self._stream, lineterminator="\n").writerow(_COLUMNS[self.kind])

    def _csv_row(self, row: Mapping[str, object]) -> list[object]:
        """The values of a ``to_dict()`` row in this kind's columns ("" where absent)."""
        error = row.get("error", "")
        if self.kind == "digit":
            probabilities = row.get("probabilities") or [""] * 10
            assert isinstance(probabilities, list)
            return [
                row["file"],
                row.get("label", ""),
                row.get("probability", ""),
                *probabilities,
                error,
            ]
        digits = row.get("digits", [])
        assert isinstance(digits, list)
        unsure = [str(i + 1) for i, d in enumerate(digits) if not d["confident"]]
        return [
            row["file"],
            row.get("text", ""),
            row.get("probability", ""),
            row.get("confident", ""),
            " ".join(unsure),
            error,
        ]

    def _read_existing(self) -> None:
        self._drop_incomplete_row()
        keys: list[int] = []
        for file, failed in self._rows():
            keys.append(_key(file))
            self.failed_before += failed
        self.resumed = len(keys)
        self._done = np.unique(np.array(keys, np.uint64))

    def _rows(self) -> Iterator[tuple[str, bool]]:
        """(file, whether it failed) for every row already in the file."""
        with open(self.path, encoding="utf-8", newline="") as stream:
            if self.format == "csv":
                yield from self._csv_rows(stream)
                return
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                if not isinstance(row, dict) or not isinstance(row.get("file"), str):
                    self._refuse(f'line {number} is not a JSON object with a "file"')
                if "error" not in row and _RESULT_KEY[self.kind] not in row:
                    other: ResultsKind = "digit" if self.kind == "number" else "number"
                    self._refuse(f"it holds {_KIND_NAMES[other]} (line {number})")
                yield row["file"], "error" in row

    def _csv_rows(self, stream: Iterable[str]) -> Iterator[tuple[str, bool]]:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != _COLUMNS[self.kind]:
            self._refuse(_describe_header(header))
        error_column = len(header) - 1
        for number, fields in enumerate(reader, start=2):
            if len(fields) != len(header):
                raise ResultsFileError(
                    f"{self.path}, line {number}: {len(fields)} fields where {len(header)} "
                    f"were expected. {_ELSEWHERE}, or mend or move this file: {_KEPT}."
                )
            yield fields[0], bool(fields[error_column])

    def _refuse(self, why: str) -> NoReturn:
        command = "mnistcnn predict --digits" if self.kind == "number" else "mnistcnn predict"
        raise ResultsFileError(
            f"{self.path} exists and is not a results file of '{command}' ({why}). "
            f"{_ELSEWHERE}, or move this file away: {_KEPT}."
        )

    def _drop_incomplete_row(self) -> None:
        """Cut off a last row without its line end: a run stopped while writing it."""
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "rb+") as stream:
            stream.seek(max(size - 1, 0))
            if stream.read(1) == b"\n":
                return
            # Find the last line end by reading backwards a block at a time.
            end = size
            while end > 0:
                start = max(end - 65536, 0)
                stream.seek(start)
                block = stream.read(end - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                end = start
            else:
                keep = 0
            logger.warning(
                "%s: dropped its incomplete last row (%d bytes; a run was stopped while "
                "writing it): that file is read again",
                self.path,
                size - keep,
            )
            stream.truncate(keep)


_ELSEWHERE = "Choose another results file (--output)"
_KEPT = "it is never overwritten"

_KIND_NAMES: dict[ResultsKind, str] = {
    "digit": "one digit per file",
    "number": "whole numbers (--digits)",
}


def _describe_header(header: Sequence[str]) -> str:
    for kind, columns in _COLUMNS.items():
        if tuple(header) == columns:
            return f"it holds {_KIND_NAMES[kind]}"
    return f"its first line is {','.join(header)[:80]!r}"


def _key(file: str) -> int:
    """A 64-bit digest of a path: 8 bytes per file done, however long the paths."""
    digest = hashlib.blake2b(file.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "little")
