"""The two ways of running a network: a dynamic-graph layer, or Paddle Inference on a static model.

Both take a float32 batch of shape (n, 1, 28, 28) and return the network's raw output (n, 10).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import paddle
from paddle import nn

BackendName = Literal["dynamic", "static"]


class Backend(Protocol):
    name: BackendName

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class DynamicBackend:
    """Runs an in-memory :class:`paddle.nn.Layer` in eval mode without gradients.

    A layer in training mode is switched to eval mode for each batch and back afterwards. The
    switch and the forward pass hold one lock, so that threads sharing the classifier never run
    a batch while another thread has put the layer back into training mode (dropout and batch
    statistics would then change the result), and the layer ends in the mode it started in.
    """

    name: BackendName = "dynamic"

    def __init__(self, layer: nn.Layer) -> None:
        self.layer = layer
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
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


class StaticBackend:
    """Runs a static inference model with the Paddle Inference predictor (oneDNN on CPU)."""

    name: BackendName = "static"

    def __init__(self, program: Path, params: Path, *, num_threads: int | None = None) -> None:
        from paddle import inference

        config = inference.Config(str(program), str(params))
        config.disable_glog_info()
        config.set_cpu_math_library_num_threads(num_threads or available_cpus())
        self._predictor = inference.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])
        self._lock = threading.Lock()  # a predictor must not run two batches at once
        self.program = program

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self._input.reshape(list(batch.shape))
            self._input.copy_from_cpu(np.ascontiguousarray(batch, dtype=np.float32))
            self._predictor.run()
            result: np.ndarray = self._output.copy_to_cpu()
        return result
