"""Paddle's dynamic graph: an in-memory :class:`paddle.nn.Layer`."""

from __future__ import annotations

import threading

import numpy as np
import paddle
from paddle import nn

from .._choices import BackendName


class DynamicBackend:
    """Runs an in-memory :class:`paddle.nn.Layer` in eval mode without gradients.

    A layer in training mode is switched to eval mode for each batch and back afterwards. The
    switch and the forward pass hold one lock, so that threads sharing the classifier never run
    a batch while another thread has put the layer back into training mode (dropout and batch
    statistics would then change the result), and the layer ends in the mode it started in.

    ``num_threads`` sets Paddle's CPU math threads before each batch. Paddle has one such
    setting for the whole process, shared with any training it runs (which is fastest on one
    thread), so by default it is left as it is.
    """

    name: BackendName = "dynamic"

    def __init__(self, layer: nn.Layer, *, num_threads: int | None = None) -> None:
        self.layer = layer
        self.num_threads = num_threads
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            if self.num_threads is not None:
                from paddle.base import core

                core.set_num_threads(self.num_threads)
            # Each sublayer's own mode is restored: a user may keep some in eval mode (frozen
            # batch norm) while the rest trains, which layer.train() would not give back. The
            # flags are set directly because eval()/train() also switch Paddle's tracer mode,
            # which is shared with whatever else the process runs.
            training = [sub for sub in self.layer.sublayers(include_self=True) if sub.training]
            for sub in training:
                sub.training = False
            try:
                with paddle.no_grad():
                    output = self.layer(paddle.to_tensor(batch))
                result: np.ndarray = output.numpy()
            finally:
                for sub in training:
                    sub.training = True
        return result
