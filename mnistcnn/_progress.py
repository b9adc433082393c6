"""Progress bars for downloads, training epochs and ``mnistcnn predict``: tqdm, on stderr.

``tqdm.auto`` draws a widget in a notebook and a text line elsewhere; what this module adds is
the house settings every bar shares, so that the three callers do not repeat them.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Protocol

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar(Protocol):
    """What the package uses of a tqdm bar (tqdm ships no type information)."""

    total: int | float | None
    n: int | float

    def update(self, n: int = 1) -> bool | None: ...

    def set_postfix(self, *, refresh: bool = True, **values: float) -> None: ...

    def refresh(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> ProgressBar: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


_QUIET_INTERVAL = 30.0
"""Seconds between redraws on a stream that is not a terminal (a CI log, a file): a line now
and then and the final one, not ten lines a second."""


def progress_bar(
    total: int | None, *, desc: str, enabled: bool = True, unit: str = "it", data: bool = False
) -> ProgressBar:
    """A tqdm bar on stderr; ``enabled=False`` gives one that draws nothing.

    Args:
        total: the count when done, or ``None`` while unknown (it may be set later).
        desc: what is counted, shown before the bar.
        enabled: ``False`` (``-q``, ``progress=False``) turns the bar off.
        unit: the name of one step (``"files"``).
        data: the steps are bytes: shown in KiB, MiB, GiB (1024s, as they are).
    """
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    interactive = sys.stderr.isatty()
    bar: ProgressBar = tqdm(
        total=total,
        desc=desc,
        disable=not enabled,
        file=sys.stderr,
        unit="B" if data else unit,
        unit_scale=data,
        unit_divisor=1024,
        mininterval=0.1 if interactive else _QUIET_INTERVAL,
        dynamic_ncols=interactive,
    )
    return bar
