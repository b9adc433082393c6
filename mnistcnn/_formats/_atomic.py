"""Replacing a model's files as one unit, so that a crash leaves the old model or the new one.

A model is several files under one prefix (weights, static program, parameters, metadata); one
``os.replace`` per file is atomic, but a process killed between two of them would leave new
weights beside old metadata. So a save goes through a small roll-forward journal, as SQLite's
does:

1. every new file is written and flushed into a private staging directory
   ``.NAME.saving-PID-TOKEN`` beside the model (a crash here leaves the old model untouched);
2. the staging directory, with a manifest of its files, is renamed to ``.NAME.commit``: this one
   rename is the commit point;
3. the files move from ``.NAME.commit`` into place, metadata last; files of the old model that
   the new one does not have are removed; the journal directory goes last.

Whoever opens the model next (:func:`finish_interrupted`, called by every load and save) finds
a ``.NAME.commit`` left by a crash in step 3 and completes it, so readers only ever see a
complete model. Stale staging directories of dead processes are removed at the same time.
Writers and readers of one directory are serialised with ``flock`` on the directory itself
(POSIX; elsewhere the journal alone keeps the files consistent).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .._errors import ModelFormatError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["finish_interrupted", "fsync", "locked", "replace_model", "staging_directory"]

MANIFEST = "manifest.json"


def staging_directory(prefix: Path) -> Path:
    """A new private directory beside ``prefix`` to write a model's files into."""
    path = prefix.parent / f".{prefix.name}.saving-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir()
    return path


def _journal(prefix: Path) -> Path:
    return prefix.parent / f".{prefix.name}.commit"


@contextlib.contextmanager
def locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold ``flock`` on ``directory``: shared to read a model, exclusive to change one."""
    if fcntl is None:
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without flock: the journal still holds
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def replace_model(staging: Path, prefix: Path, *, names: list[str], stale: list[str]) -> None:
    """Make the files ``names`` in ``staging`` the model at ``prefix``, all or nothing.

    Args:
        staging: the directory from :func:`staging_directory`, holding every file of the new
            model (flushed to disk by the caller).
        prefix: the model's path prefix.
        names: the file names to move into place, in order (metadata last).
        stale: file names of an older model at ``prefix`` to remove if the new one lacks them.
    """
    manifest = staging / MANIFEST
    manifest.write_text(json.dumps({"files": names, "stale": stale}), encoding="utf-8")
    fsync(manifest)
    fsync(staging)
    with locked(prefix.parent, exclusive=True):
        _finish(prefix)  # an older interrupted save first, so its journal is out of the way
        os.replace(staging, _journal(prefix))  # the commit point
        fsync(prefix.parent)
        _finish(prefix)


def finish_interrupted(prefix: Path) -> None:
    """Complete a save of ``prefix`` that a crash interrupted after its commit point, and
    remove staging directories left by dead processes.

    Raises:
        ModelFormatError: an interrupted save cannot be completed (no write permission).
    """
    journal = _journal(prefix)
    leftovers = list(prefix.parent.glob(f".{prefix.name}.saving-*"))
    if not journal.is_dir() and not leftovers:
        return
    try:
        with locked(prefix.parent, exclusive=True):
            _finish(prefix)
            for staging in leftovers:
                if not _owner_alive(staging):
                    shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise ModelFormatError(
            f"{prefix}: a save was interrupted and cannot be completed here ({exc}); open the "
            "model once with write access to its directory, or save it again."
        ) from exc


def _finish(prefix: Path) -> None:
    """Move a committed journal's files into place (idempotent: a crash here is finished by
    the next call). The caller holds the exclusive lock."""
    journal = _journal(prefix)
    try:
        plan = json.loads((journal / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        if journal.is_dir():  # the manifest was the last thing removed: only the directory left
            shutil.rmtree(journal, ignore_errors=True)
        return
    for name in plan["files"]:
        source = journal / name
        if source.exists():
            os.replace(source, prefix.parent / name)
    fsync(prefix.parent)
    for name in plan["stale"]:
        if name not in plan["files"]:
            with contextlib.suppress(FileNotFoundError):
                (prefix.parent / name).unlink()
    (journal / MANIFEST).unlink()
    shutil.rmtree(journal, ignore_errors=True)
    fsync(prefix.parent)


def _owner_alive(staging: Path) -> bool:
    try:
        pid = int(staging.name.rsplit("-", 2)[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def fsync(path: Path) -> None:
    """Flush a file or directory to disk, so that a rename after it is durable."""
    with contextlib.suppress(OSError):  # directories cannot be opened on Windows
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
