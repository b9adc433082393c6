"""``mnistcnn predict``: the library's streaming calls, printed or written to a results file.

The work is :meth:`DigitClassifier.predict_files` (or :meth:`~DigitClassifier.read_files` with
``--digits``) over :func:`find_images`, and :class:`ResultsFile` with ``--output``; what is
here is finding the files named on the command line, printing, the progress bar and the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .._errors import ImageNotFoundError
from .._inference._streaming import (
    IMAGE_SUFFIXES,
    FilePrediction,
    FileReading,
    find_images,
    read_file_list,
)
from .._progress import ProgressBar, progress_bar
from ._common import counted, load_model

if TYPE_CHECKING:
    from .._inference._results import ResultsFile, ResultsKind
    from .._reading._numbers import Reading

__all__ = ["run_predict"]

_Result = FilePrediction | FileReading
_OnError = Callable[[str, OSError], None]


def run_predict(args: argparse.Namespace) -> int:
    from .._inference._results import ResultsFile

    if not args.images and args.files_from is None:
        raise ValueError("name the pictures: IMAGE arguments, --files-from LIST, or both.")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1; got {args.batch_size}.")
    kind: ResultsKind = "number" if args.digits else "digit"
    results = ResultsFile(args.output, kind=kind) if args.output else None
    classifier = load_model(args)
    show = Path(args.show) if args.show else None
    if show is not None:
        show.mkdir(parents=True, exist_ok=True)
    sources = _Sources(args, FileReading if args.digits else FilePrediction)
    todo = sources.files() if results is None else results.remaining(sources.files())
    outcomes: Iterator[_Result] = (
        classifier.read_files(todo, min_confidence=args.min_confidence, method=args.method)
        if args.digits
        else classifier.predict_files(todo, batch_size=args.batch_size, preprocess=args.preprocess)
    )
    progress = results is not None and not args.quiet
    bar = progress_bar(None, desc="predict", enabled=progress, unit="files")
    if progress and args.files_from != "-":  # standard input can be read only once
        _count_in_background(sources, bar, skip=results.done if results else None)
    report = _Report(args, results)
    try:
        for outcome in outcomes:
            for failed in sources.unlisted():
                report(failed)
            if show is not None and outcome.ok:
                _save_view(show, outcome)
            report(outcome)
            bar.update()
        for failed in sources.unlisted():
            report(failed)
        bar.total = bar.n  # all done: the count may still be running
    finally:
        bar.close()
        if results is not None:
            results.close()
    if sources.found == 0 and not report.failed:
        raise ImageNotFoundError(f"found no pictures in {sources.describe()}.")
    if results is not None and not args.quiet:
        print(report.summary(results), file=sys.stderr)
    return 1 if report.failed or (results is not None and results.failed_before) else 0


class _Sources:
    """The files named on the command line (IMAGE arguments and --files-from), found lazily;
    directories that cannot be listed are kept as error results of their own."""

    def __init__(self, args: argparse.Namespace, result: type[_Result]) -> None:
        self.images: list[str] = args.images
        self.files_from: str | None = args.files_from
        self.result = result
        self.found = 0
        self._unlisted: list[_Result] = []

    def files(self, on_error: _OnError | None = None) -> Iterator[str]:
        """Every file, in order; ``on_error`` is told of a directory that cannot be listed
        (by default it becomes an error result, see :meth:`unlisted`)."""
        for name in self._names(on_error or self._keep):
            if on_error is None:
                self.found += 1
            yield name

    def _names(self, on_error: _OnError) -> Iterator[str]:
        for name in self.images:
            try:
                yield from find_images(name, on_error=on_error)
            except ImageNotFoundError:
                yield name  # reported as that file's error, after the files before it
        if self.files_from is not None:
            with _open_list(self.files_from) as listing:
                yield from read_file_list(listing)

    def _keep(self, folder: str, exc: OSError) -> None:
        message = f"{folder}: cannot list this directory ({exc.strerror})"
        self._unlisted.append(self.result(folder, error=message))

    def unlisted(self) -> Iterator[_Result]:
        """The directories found unreadable since the last call, as error results."""
        while self._unlisted:
            yield self._unlisted.pop(0)

    def describe(self) -> str:
        named = [*self.images, *([self.files_from] if self.files_from is not None else [])]
        endings = ", ".join(sorted(IMAGE_SUFFIXES))
        where = ", ".join(named)
        return f"{where} (directories are searched, with their subdirectories, for {endings})"


class _Report:
    """Prints each result (or writes it to the results file) and counts them."""

    def __init__(self, args: argparse.Namespace, results: ResultsFile | None) -> None:
        self.json: bool = args.json
        self.quiet: bool = args.quiet
        self.results = results
        self.read = self.failed = 0

    def __call__(self, result: _Result) -> None:
        self.failed += not result.ok
        self.read += result.ok
        if self.results is not None:
            self.results.write(result)
            if not result.ok and self.quiet:
                print(f"mnistcnn predict: error: {result.error}", file=sys.stderr)
            return
        if self.json:
            print(json.dumps(result.to_dict()), flush=True)
        elif result.ok:
            print(_line(result), flush=True)
        if not result.ok:
            print(f"mnistcnn predict: error: {result.error}", file=sys.stderr)

    def summary(self, results: ResultsFile) -> str:
        line = f"mnistcnn predict: {counted(self.read, 'file')} read, {self.failed:,} failed"
        if results.resumed:
            line += f"; {results.resumed:,} skipped, already in {results.path}" + (
                f" ({results.failed_before:,} of them failed)" if results.failed_before else ""
            )
        return line + f"; results in {results.path}"


def _line(result: _Result) -> str:
    """The line of text ``mnistcnn predict`` prints for a file read."""
    if isinstance(result, FilePrediction):
        return f"{result.file}: {result.label} (p={result.probability:.3f})"
    assert result.reading is not None  # set whenever ok
    return f"{result.file}: {_reading_text(result.reading)}"


def _reading_text(reading: Reading) -> str:
    details = [f"p={reading.probability:.3f}", counted(len(reading.digits), "digit")]
    if reading.boxes:
        empty = sum(b.digit is None for b in reading.boxes)
        details[-1] += f" in {counted(len(reading.boxes), 'printed box')}" + (
            f", {empty} empty" if empty else ""
        )
    unsure = [str(i + 1) for i, d in enumerate(reading.digits) if not d.confident]
    if unsure:
        details.append(f"unsure: {'digit' if len(unsure) == 1 else 'digits'} {', '.join(unsure)}")
    return f"{reading.text} ({'; '.join(details)})"


def _save_view(folder: Path, result: _Result) -> None:
    """What ``--show`` saves: the 28x28 input the model saw, or the number read, drawn."""
    from PIL import Image

    if isinstance(result, FilePrediction):
        assert result.model_input is not None  # set whenever ok
        target = folder / f"{Path(result.file).stem}_28x28.png"
        picture = Image.fromarray(result.model_input).resize((224, 224), Image.Resampling.NEAREST)
    else:
        from .._reading._overlay import draw_reading

        assert result.reading is not None  # set whenever ok
        target = folder / f"{Path(result.file).stem}_read.png"
        picture = draw_reading(result.file, result.reading)
    tmp = target.with_name(f".{target.name}.tmp")
    picture.save(tmp, format="PNG")
    os.replace(tmp, target)


@contextlib.contextmanager
def _open_list(name: str) -> Iterator[TextIO]:
    """A file list, or standard input for ``-``."""
    if name == "-":
        yield sys.stdin
        return
    with open(name, encoding="utf-8", errors="surrogateescape") as listing:
        yield listing


def _count_in_background(
    sources: _Sources, bar: ProgressBar, *, skip: Callable[[str], bool] | None
) -> None:
    """Count the files to do in a thread of its own, and give the progress bar its total
    when done: the files stream meanwhile, and a tree of millions is counted in seconds."""

    def count() -> None:
        # Errors are the run's to report: the count skips unreadable folders, and gives up
        # (the bar then has no total) on anything else.
        with contextlib.suppress(OSError, ValueError):
            names = sources.files(on_error=lambda folder, exc: None)
            bar.total = sum(1 for name in names if skip is None or not skip(name))
            bar.refresh()

    threading.Thread(target=count, name="mnistcnn-count", daemon=True).start()
