"""The Paddle Inference predictor on a static model (``.json``/``.pdmodel`` + ``.pdiparams``)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .._choices import BackendName
from ._base import available_cpus


class StaticBackend:
    """Runs a static inference model with the Paddle Inference predictor (oneDNN on CPU)."""

    name: BackendName = "static"

    def __init__(self, program: Path, params: Path, *, num_threads: int | None = None) -> None:
        from paddle import inference

        config = inference.Config(str(program), str(params))
        config.disable_glog_info()
        self.num_threads = num_threads or available_cpus()
        config.set_cpu_math_library_num_threads(self.num_threads)
        self._predictor = inference.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])
        self._lock = threading.Lock()  # a predictor must not run two batches at once
        self.program = program
        self.params = params

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self._input.reshape(list(batch.shape))
            self._input.copy_from_cpu(np.ascontiguousarray(batch, dtype=np.float32))
            self._predictor.run()
            result: np.ndarray = self._output.copy_to_cpu()
        return result
