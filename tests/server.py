"""A real ``mnistcnn serve`` process on 127.0.0.1, for the API, page and benchmark runs."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

_READY = re.compile(r"^mnistcnn serve: (http://\S+) ")


@dataclass
class Server:
    """A running server: its URL, its process and everything it printed so far."""

    url: str
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def rss(self) -> int:
        """The server's resident memory, in bytes (Linux)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status once the process has finished."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextlib.contextmanager
def running_server(*args: str, timeout: float = 180) -> Iterator[Server]:
    """Start ``python -m mnistcnn serve --port 0 ARGS`` and yield it once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mnistcnn", "serve", "--port", "0", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stdout: list[str] = []
    stderr: list[str] = []

    def pump(stream: object, into: list[str], announce: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)
            if announce:
                lines.put(line)
        if announce:
            lines.put(None)

    threads = [
        threading.Thread(target=pump, args=(process.stdout, stdout, True), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, stderr, False), daemon=True),
    ]
    for thread in threads:
        thread.start()
    url = None
    try:
        while url is None:
            line = lines.get(timeout=timeout)
            if line is None:
                raise RuntimeError(
                    f"the server exited ({process.wait()}) before listening:\n"
                    + "".join(stdout + stderr)
                )
            match = _READY.match(line)
            url = match.group(1) if match else None
        server = Server(url, process, stdout, stderr)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in threads:
            thread.join(5)
        process.stdout.close()
        process.stderr.close()
