"""A dependency-free progress bar for downloads and training epochs, written to stderr."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class ProgressBar:
    """``[=====>    ] 12,345/60,000  loss 0.1234  acc 0.9612  3.2s`` redrawn in place.

    On a terminal the line is redrawn at most ten times a second; elsewhere (CI logs, pipes) only
    the final line is written, so logs stay readable. A ``total`` of ``None`` is not known yet
    (files still being counted): the count and the rate are shown until it is set.
    """

    def __init__(
        self,
        total: int | None,
        *,
        desc: str = "",
        enabled: bool = True,
        stream: TextIO | None = None,
        unit: str = "",
    ) -> None:
        self.total = None if total is None else max(int(total), 0)
        self.unit = unit
        self.desc = desc
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self.postfix = ""
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._interactive = enabled and self.stream.isatty()

    def update(self, n: int = 1, **values: float) -> None:
        self.count += n
        if values:
            self.postfix = "  ".join(f"{key} {value:.4f}" for key, value in values.items())
        now = time.perf_counter()
        if self._interactive and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw(end="")

    def close(self) -> None:
        if self.enabled:
            self._draw(end="\n")

    def _draw(self, *, end: str) -> None:
        width = 24
        elapsed = time.perf_counter() - self._start
        total = self.total
        if total is None:
            bar = " " * width
            counted = f"{self.count:,}/?"
        else:
            done = min(self.count / total, 1.0) if total else 1.0
            filled = int(width * done)
            bar = "=" * filled + (">" if filled < width else "") + " " * (width - filled - 1)
            counted = f"{self.count:,}/{total:,}"
        if self.unit:
            counted += f" {self.unit}"
            if elapsed > 0:
                counted += f"  {self.count / elapsed:,.0f}/s"
        line = f"{self.desc} [{bar[:width]}] {counted}  {self.postfix}"
        prefix = "\r" if self._interactive else ""
        self.stream.write(f"{prefix}{line.rstrip()}  {elapsed:.1f}s{end}")
        self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
