"""ONNX Runtime on an ``.onnx`` model. Imports no Paddle: a process that predicts with it
never pays for Paddle's import."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._choices import BackendName
from .._errors import MissingDependencyError, ModelFormatError
from ._base import ONNX_EXTRA, available_cpus


class OnnxRuntimeBackend:
    """Runs an ONNX model with ONNX Runtime's CPU engine, all graph optimisations on.

    ONNX Runtime allows concurrent ``run`` calls on one session, so threads sharing the
    classifier run their batches at the same time, without a lock. The model is given as the
    bytes already checked against the metadata's digest, so the file cannot change between
    the check and the load.
    """

    name: BackendName = "onnxruntime"

    def __init__(self, model: bytes, *, source: Path, num_threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise MissingDependencyError(
                f"{source}: running an ONNX model needs ONNX Runtime, an optional extra: "
                f"{ONNX_EXTRA}."
            ) from exc
        options = onnxruntime.SessionOptions()
        self.num_threads = num_threads or available_cpus()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only; its warnings go to stderr otherwise
        try:
            self._session = onnxruntime.InferenceSession(
                model, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime raises its own Fail/InvalidGraph/... errors
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ModelFormatError(
                f"{source}: ONNX Runtime cannot run this file ({first_line}). Export the model "
                "again (mnistcnn export MODEL --format onnx), or load its Paddle files."
            ) from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelFormatError(
                f"{source}: expected a model with one input and one output; this one has "
                f"{len(inputs)} inputs and {len(outputs)} outputs."
            )
        self.input_shape = tuple(d if isinstance(d, int) else None for d in inputs[0].shape)
        self._input = inputs[0].name
        self._outputs = [outputs[0].name]
        self.program = source

    def run(self, batch: np.ndarray) -> np.ndarray:
        result: np.ndarray = self._session.run(self._outputs, {self._input: batch})[0]
        return result
