"""A results file of ``mnistcnn predict --output``: CSV or JSON Lines, one row per file.

Rows are appended and flushed as each file is done, so a run that is stopped (Ctrl-C, a crash,
a power cut) keeps everything before it. Opening an existing results file resumes it: the files
it already holds a row for are skipped, and an incomplete last row (cut off mid-write) is dropped.
A file that is not a results file of the same kind is refused, never overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from .._errors import MnistCnnError

__all__ = ["ResultsFile", "ResultsFileError"]

logger = logging.getLogger(__name__)

Kind = Literal["digit", "number"]

_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "digit": ("file", "label", "probability", *(f"p{d}" for d in range(10)), "error"),
    "number": ("file", "text", "probability", "confident", "unsure", "error"),
}
"""CSV columns of each kind: one digit per file, or a whole number per file (``--digits``)."""

_RESULT_KEY: dict[Kind, str] = {"digit": "label", "number": "text"}
"""The key a JSON row of each kind has when the file was read."""


class ResultsFileError(MnistCnnError, ValueError):
    """An output that cannot be resumed: another kind of results, or not a results file."""


class ResultsFile:
    """Append rows to ``path``, skipping the files a previous run already wrote a row for.

    Args:
        path: ``*.csv`` or ``*.jsonl`` (``*.ndjson``, ``*.json`` hold JSON Lines too).
        kind: ``"digit"`` (one digit per file) or ``"number"`` (a number per file).

    Raises:
        ValueError: a path ending in anything else.
        ResultsFileError: ``path`` exists and is not a results file of this kind.
    """

    def __init__(self, path: str | os.PathLike[str], *, kind: Kind) -> None:
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
        self.kind = kind
        self._done = np.empty(0, np.uint64)
        self.resumed = 0
        """Rows found in the file when it was opened."""
        self.failed_before = 0
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

    def write(self, row: dict[str, Any]) -> None:
        """Append one file's row (the keys of a ``--json`` line) and flush it."""
        if self._stream is None:
            self._open()
        assert self._stream is not None  # for mypy: _open() sets it
        if self.format == "jsonl":
            self._stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            csv.writer(self._stream, lineterminator="\n").writerow(self._csv_row(row))
        self._stream.flush()

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

    def _csv_row(self, row: dict[str, Any]) -> list[object]:
        error = row.get("error", "")
        if self.kind == "digit":
            probabilities = row.get("probabilities") or [""] * 10
            return [
                row["file"],
                row.get("label", ""),
                row.get("probability", ""),
                *probabilities,
                error,
            ]
        unsure = [str(i + 1) for i, d in enumerate(row.get("digits", ())) if not d["confident"]]
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
        command = "mnistcnn predict --digits" if self.kind == "number" else "mnistcnn predict"
        refuse = f"{self.path} exists and is not a results file of '{command}'"
        with open(self.path, encoding="utf-8", newline="") as stream:
            if self.format == "csv":
                reader = csv.reader(stream)
                header = next(reader, None)
                if header is None:
                    return
                if tuple(header) != _COLUMNS[self.kind]:
                    raise ResultsFileError(
                        f"{refuse} ({_describe_header(header)}). Choose another --output, or "
                        "move this file away: it is never overwritten."
                    )
                error_column = len(header) - 1
                for number, fields in enumerate(reader, start=2):
                    if len(fields) != len(header):
                        raise ResultsFileError(
                            f"{self.path}, line {number}: {len(fields)} fields where "
                            f"{len(header)} were expected. Choose another --output, or mend "
                            "or move this file: it is never overwritten."
                        )
                    yield fields[0], bool(fields[error_column])
                return
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                if not isinstance(row, dict) or not isinstance(row.get("file"), str):
                    raise ResultsFileError(
                        f'{refuse} (line {number} is not a JSON object with a "file"). '
                        "Choose another --output, or move this file away: it is never "
                        "overwritten."
                    )
                if "error" not in row and _RESULT_KEY[self.kind] not in row:
                    other: Kind = "digit" if self.kind == "number" else "number"
                    raise ResultsFileError(
                        f"{refuse}: it holds {_KIND_NAMES[other]} (line {number}). Choose "
                        "another --output, or move this file away: it is never overwritten."
                    )
                yield row["file"], "error" in row

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


_KIND_NAMES: dict[Kind, str] = {
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
