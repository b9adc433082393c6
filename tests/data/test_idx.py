from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from mnistcnn import DatasetCorruptError
from mnistcnn._data._idx import parse_idx, read_bytes


def idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(f">BBBB{array.ndim}I", 0, 0, 8, array.ndim, *array.shape) + array.tobytes()


def test_parses_images_and_labels() -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(3, 28, 28)
    assert np.array_equal(parse_idx(idx_bytes(images), source="x", ndim=3), images)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    assert parse_idx(idx_bytes(labels), source="x", ndim=1).tolist() == [3, 1, 4]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01" + b"\x00" * 4, "type code 0x0d"),
        (idx_bytes(np.zeros((2, 2), np.uint8)), "rank 2, expected 1"),
        (idx_bytes(np.zeros(5, np.uint8))[:-1], "truncated"),
        (idx_bytes(np.zeros(5, np.uint8)) + b"\x00", "longer than its header says"),
        (b"\x00\x00\x08\x01\x00\x00", "truncated inside the IDX header"),
    ],
)
def test_malformed_data_names_the_source_and_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(DatasetCorruptError, match=message) as info:
        parse_idx(data, source="some/file", ndim=1)
    assert "some/file" in str(info.value)


def test_reads_plain_and_gzip_files(tmp_path: Path) -> None:
    content = idx_bytes(np.arange(10, dtype=np.uint8))
    (tmp_path / "plain").write_bytes(content)
    (tmp_path / "packed").write_bytes(gzip.compress(content))
    assert read_bytes(tmp_path / "plain") == content
    assert read_bytes(tmp_path / "packed") == content


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint16).astype(np.uint8)))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DatasetCorruptError, match="truncated or damaged"):
        read_bytes(tmp_path / "cut.gz")
