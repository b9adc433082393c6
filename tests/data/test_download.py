"""Downloads against a real HTTP server on 127.0.0.1 serving the real MNIST files."""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mnistcnn import DatasetNotFoundError, load_data
from mnistcnn._data._idx import read_bytes


class Mirror:
    """Serves ``/MODE/FILE`` for modes good, corrupt, flaky (503 once), truncated, missing."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.requests: Counter[str] = Counter()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests[self.path] += 1
                mode, _, name = self.path.strip("/").partition("/")
                path = mirror.source / name
                if mode == "missing" or not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                if mode == "flaky" and mirror.requests[self.path] == 1:
                    self.send_error(503)
                    return
                if mode == "corrupt":
                    raw = bytearray(gzip.decompress(body))
                    raw[-1] ^= 0xFF  # one pixel of one image changed
                    body = gzip.compress(bytes(raw))
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "truncated" else body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), daemon=True
        )  # a short poll interval: shutdown() waits for it (0.5 s by default, in every test)
        self.thread.start()

    def base(self, mode: str) -> str:
        return f"{self.url}/{mode}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(mnist_dir: Path) -> Iterator[Mirror]:
    server = Mirror(mnist_dir)
    yield server
    server.close()


@pytest.fixture
def empty_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("MNISTCNN_DATA", raising=False)
    monkeypatch.delenv("MNISTCNN_MIRRORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_downloads_verifies_and_loads(mirror: Mirror, empty_home: Path, mnist_dir: Path) -> None:
    data = load_data(
        "test", root=empty_home / "data", mirrors=[mirror.base("good")], progress=False
    )
    assert data.images.shape == (10_000, 28, 28)
    files = sorted(p.name for p in (empty_home / "data").iterdir())
    assert files == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for name in files:
        assert read_bytes(empty_home / "data" / name) == read_bytes(mnist_dir / name)
    # A second load reads the files it downloaded and asks the server for nothing.
    before = sum(mirror.requests.values())
    load_data("test", root=empty_home / "data", mirrors=[mirror.base("good")], progress=False)
    assert sum(mirror.requests.values()) == before


def test_downloads_into_the_user_cache_by_default(mirror: Mirror, empty_home: Path) -> None:
    load_data("test", mirrors=[mirror.base("good")], progress=False)
    assert (empty_home / "cache" / "mnistcnn" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_mirrors_from_the_environment(
    mirror: Mirror, empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNISTCNN_MIRRORS", f"{mirror.base('missing')} {mirror.base('good')}")
    assert len(load_data("test", root=empty_home / "d", progress=False)) == 10_000
    assert mirror.requests["/missing/t10k-images-idx3-ubyte.gz"] == 1


def test_corrupt_mirror_is_skipped_and_its_file_never_kept(
    mirror: Mirror, empty_home: Path
) -> None:
    data = load_data(
        "test",
        root=empty_home / "d",
        mirrors=[mirror.base("corrupt"), mirror.base("good")],
        progress=False,
    )
    assert len(data) == 10_000
    assert (
        mirror.requests["/corrupt/t10k-images-idx3-ubyte.gz"] == 1
    )  # a bad checksum is not retried
    assert mirror.requests["/good/t10k-images-idx3-ubyte.gz"] == 1


def test_only_corrupt_mirrors_give_a_clear_error_and_leave_nothing(
    mirror: Mirror, empty_home: Path
) -> None:
    target = empty_home / "d"
    with pytest.raises(DatasetNotFoundError) as info:
        load_data("test", root=target, mirrors=[mirror.base("corrupt")], progress=False)
    message = str(info.value)
    assert "checksum mismatch" in message
    assert f"{mirror.url}/corrupt/t10k-images-idx3-ubyte.gz" in message
    assert "MNISTCNN_DATA" in message
    assert list(target.iterdir()) == []  # no partial or corrupt file left behind


def test_server_that_fails_first_is_retried(
    mirror: Mirror, empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mnistcnn._data._download.time.sleep", lambda seconds: None)
    data = load_data("test", root=empty_home / "d", mirrors=[mirror.base("flaky")], progress=False)
    assert len(data) == 10_000
    assert mirror.requests["/flaky/t10k-images-idx3-ubyte.gz"] == 2


def test_truncated_transfer_is_retried_then_reported(
    mirror: Mirror, empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mnistcnn._data._download.time.sleep", lambda seconds: None)
    with pytest.raises(DatasetNotFoundError, match="connection closed after") as info:
        load_data("test", root=empty_home / "d", mirrors=[mirror.base("truncated")], progress=False)
    assert "try 3 of 3" in str(info.value)
    assert mirror.requests["/truncated/t10k-images-idx3-ubyte.gz"] == 3
    assert list((empty_home / "d").iterdir()) == []


def test_unreachable_host_and_disabled_downloads(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mnistcnn._data._download.time.sleep", lambda seconds: None)
    with pytest.raises(DatasetNotFoundError, match="cannot connect"):
        load_data("test", root=empty_home / "d", mirrors=["http://127.0.0.1:9/"], progress=False)
    with pytest.raises(DatasetNotFoundError, match=r"download=False"):
        load_data("test", root=empty_home / "d", download=False)


def test_only_the_missing_file_is_downloaded(
    mirror: Mirror, empty_home: Path, mnist_dir: Path
) -> None:
    target = empty_home / "d"
    target.mkdir()
    (target / "t10k-labels-idx1-ubyte").write_bytes(
        read_bytes(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    )
    data = load_data("test", root=target, mirrors=[mirror.base("good")], progress=False)
    assert np.bincount(data.labels)[0] == 980
    assert mirror.requests["/good/t10k-labels-idx1-ubyte.gz"] == 0
    assert mirror.requests["/good/t10k-images-idx3-ubyte.gz"] == 1
