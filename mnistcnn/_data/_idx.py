"""Decoding of IDX files, the format the MNIST database is distributed in.

An IDX file is two zero bytes, a type code (0x08 for unsigned bytes), the number of dimensions,
that many big-endian uint32 sizes, then the data. Decoding is one ``numpy.frombuffer``.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from .._errors import DatasetCorruptError

_UBYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """The content of ``path``, decompressed if it is gzip (detected by its magic bytes)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetCorruptError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DatasetCorruptError(
            f"{path}: the gzip data is truncated or damaged ({exc}). "
            "Delete the file so that it can be downloaded again."
        ) from exc


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_idx(data: bytes, *, source: str, ndim: int) -> np.ndarray:
    """Decode IDX ``data`` holding unsigned bytes in ``ndim`` dimensions.

    Raises:
        DatasetCorruptError: naming ``source`` and what is wrong, if the header is not IDX, the
            type or rank is not the one expected, or the size does not match the header.
    """
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise DatasetCorruptError(
            f"{source}: not an IDX file (the first bytes are {data[:4].hex() or 'missing'}, "
            "expected 0000 followed by a type code and a rank)."
        )
    type_code, rank = data[2], data[3]
    if type_code != _UBYTE:
        raise DatasetCorruptError(
            f"{source}: IDX type code 0x{type_code:02x}, expected 0x08 (unsigned bytes)."
        )
    if rank != ndim:
        raise DatasetCorruptError(f"{source}: IDX rank {rank}, expected {ndim}.")
    header = 4 + 4 * rank
    if len(data) < header:
        raise DatasetCorruptError(f"{source}: truncated inside the IDX header.")
    shape = struct.unpack(f">{rank}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DatasetCorruptError(
            f"{source}: {what}: the header announces shape {shape} "
            f"({expected:,} bytes) but the content is {len(data):,} bytes."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
