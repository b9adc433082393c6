"""What every engine is: the :class:`Backend` protocol the rest of the package runs networks
through, whichever engine runs them."""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from .._choices import BackendName

ONNX_EXTRA = 'pip install "mnistcnn[onnx]"'


class Backend(Protocol):
    name: BackendName

    @property
    def num_threads(self) -> int | None:
        """CPU threads the engine computes with (``None``: Paddle's process-wide setting)."""

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
