"""Importing Paddle without its side effects on the application's process.

``import paddle`` warns that no C++ compiler cache is installed (noise to anyone not building
Paddle extensions), and configures the root logger (level INFO and a stderr handler, through
``paddle.distributed.utils.log_utils.get_logger``, whose default logger name is "root"), after
which every library's INFO messages print. Both belong to the application: the public lazy
import and the command line import Paddle inside :func:`quiet_paddle_import`, which puts the
warning filters and the root logger back as they were.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

__all__ = ["quiet_paddle_import", "quiet_paddle_when_imported"]


@contextlib.contextmanager
def quiet_paddle_import() -> Iterator[None]:
    """Run the body (which imports Paddle) with its import noise silenced and the root logger
    and warning filters left as they were."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    signals = _signal_handlers()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
            yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
        _restore(signals)


_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGSEGV", "SIGABRT", "SIGFPE", "SIGILL", "SIGBUS")
    if hasattr(signal, name)
)


def _signal_handlers() -> dict[int, Any]:
    return {number: signal.getsignal(number) for number in _SIGNALS}


def _restore(handlers: dict[int, Any]) -> None:
    """Put back the handlers Paddle's import replaced with its own (its SIGTERM handler prints
    "FatalError: Termination signal is detected" and exits 143, so a server it was imported
    into could not stop gracefully). Python's view of a handler is what it set; setting it
    again sets the C handler too. Only the main thread can set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number, handler in handlers.items():
        if handler is not None:  # None: a handler not set from Python, left as it is
            signal.signal(number, handler)


class _QuietPaddleFinder:
    """Finds nothing itself: on the first ``import paddle``, it lets the other finders find
    Paddle and runs Paddle's module code inside :func:`quiet_paddle_import`. (A meta path
    finder by protocol; not an ``importlib.abc`` subclass, whose import costs more than this
    whole module.)"""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "paddle":
            return None
        sys.meta_path.remove(self)  # once: Paddle is imported once
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            with quiet_paddle_import():
                run_module(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def quiet_paddle_when_imported() -> None:
    """Make the process's first ``import paddle``, wherever it happens, a quiet one: for the
    command line, which imports Paddle only when a command needs it (predicting with ONNX
    Runtime never does)."""
    if "paddle" not in sys.modules and not any(
        isinstance(finder, _QuietPaddleFinder) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietPaddleFinder())
