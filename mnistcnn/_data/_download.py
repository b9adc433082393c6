"""Checksummed, retried, atomic downloads from a list of mirrors."""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from .._progress import progress_bar
from . import _idx

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_USER_AGENT = "mnistcnn (+https://github.com/mnistcnn/mnistcnn)"


class DownloadError(Exception):
    """Every mirror failed; ``attempts`` holds one ``"url: reason"`` line per try."""

    def __init__(self, name: str, attempts: list[str]) -> None:
        super().__init__(f"could not download {name}")
        self.name = name
        self.attempts = attempts


class _TransientError(Exception):
    """A failure worth retrying on the same mirror (timeout, reset, HTTP 5xx)."""


class _PermanentError(Exception):
    """A failure that retrying the same mirror will not fix (HTTP 404, wrong checksum)."""


def download_verified(
    filename: str,
    *,
    raw_sha256: str,
    target_dir: Path,
    mirrors: Sequence[str],
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download ``filename`` from the first mirror that serves the right content.

    The file goes to a temporary file in ``target_dir`` and is renamed into place only after the
    SHA-256 of its (decompressed) content equals ``raw_sha256``, so an interrupted or corrupt
    download never leaves a file that looks valid.

    Returns:
        The path of the verified file in ``target_dir``.

    Raises:
        DownloadError: with every attempt's reason, when no mirror gave a valid file.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    attempts: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        for attempt in range(1, retries + 1):
            try:
                return _fetch(url, filename, raw_sha256, target_dir, timeout, progress)
            except _PermanentError as exc:
                attempts.append(f"{url}: {exc}")
                break
            except _TransientError as exc:
                attempts.append(f"{url}: {exc} (try {attempt} of {retries})")
                logger.warning("download of %s failed: %s", url, exc)
                if attempt < retries:
                    time.sleep(backoff * 2 ** (attempt - 1))
    raise DownloadError(filename, attempts)


def _fetch(
    url: str, filename: str, raw_sha256: str, target_dir: Path, timeout: float, progress: bool
) -> Path:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=target_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(request, out, filename, timeout, progress)
            out.flush()
            os.fsync(out.fileno())
        try:
            content = _idx.read_bytes(tmp)
        except ValueError as exc:
            raise _PermanentError(f"not a valid file ({exc})") from exc
        digest = _idx.sha256(content)
        if digest != raw_sha256:
            raise _PermanentError(f"checksum mismatch: SHA-256 {digest}, expected {raw_sha256}")
        final = target_dir / filename
        os.replace(tmp, final)
        logger.debug("downloaded %s to %s", url, final)
        return final
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _stream(
    request: urllib.request.Request, out: BinaryIO, filename: str, timeout: float, progress: bool
) -> None:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = int(response.headers.get("Content-Length") or 0)
            received = 0
            with progress_bar(
                length or None, desc=f"Downloading {filename}", enabled=progress, data=True
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if length and received != length:
                raise _TransientError(f"connection closed after {received:,} of {length:,} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in (408, 429):
            raise _TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        raise _PermanentError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _TransientError(f"cannot connect ({exc.reason})") from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _TransientError(f"{type(exc).__name__}: {exc}") from exc
