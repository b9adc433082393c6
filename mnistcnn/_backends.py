"""The engines that run a network: a dynamic-graph layer, Paddle Inference on a static model,
or ONNX Runtime on an ``.onnx`` model.

Each takes a float32 batch of shape (n, 1, 28, 28) and returns the network's raw output (n, 10),
and each may be called from several threads at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import paddle
from paddle import nn

from ._errors import MissingDependencyError, ModelFormatError

BackendName = Literal["dynamic", "static", "onnxruntime"]

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
