"""Training processes that end rather than hang: when their parent dies, or when their peers
never connect."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["JOIN_TIMEOUT_VARIABLE", "exit_with_parent"]

JOIN_TIMEOUT_VARIABLE = "MNISTCNN_JOIN_TIMEOUT"
"""Seconds a launched training process waits for its peers to connect before it gives up."""


def exit_with_parent(parent_pid: int) -> None:
    """End this worker if the process that started it dies (killed, crashed): orphaned workers
    would otherwise keep both cores busy, or wait for their peers forever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
