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
import logging
import warnings
from collections.abc import Iterator

__all__ = ["quiet_paddle_import"]


@contextlib.contextmanager
def quiet_paddle_import() -> Iterator[None]:
    """Run the body (which imports Paddle) with its import noise silenced and the root logger
    and warning filters left as they were."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
            yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
