"""Converting a static Paddle inference model to ONNX, offline, through paddle2onnx.

paddle2onnx reads the program Paddle 3 writes (``PREFIX.json`` + ``PREFIX.pdiparams``) and
returns the ONNX model's bytes. Three of its habits are handled here:

- its default post-processing (``optimize_tool="polygraphy"``) tries to ``pip install`` helpers
  at run time; asked for the bytes alone (no ``save_file``), it runs none of that;
- it prints progress from C++ straight to the process's standard output; that is caught and
  logged at DEBUG level instead;
- a conversion that fails is logged and swallowed by paddle2onnx; here it raises.

The ONNX graph is then tidied with the ``onnx`` package (which paddle2onnx depends on):
constants and initializers no node uses are dropped (ONNX Runtime warns about each of them),
and the dynamic axes get readable names. Last, when ONNX Runtime is installed, the new model is run
beside the Paddle program on a probe batch, so a conversion that changed the network's
output is refused rather than saved.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from .._engines._static import StaticBackend
from .._errors import MissingDependencyError, ModelFormatError

__all__ = ["EXPORT_PYTHONS", "OPSET", "onnx_from_static"]

logger = logging.getLogger(__name__)

OPSET = 13
"""The ONNX opset written: ONNX Runtime 1.8 and later, and every ONNX runtime in use, run it."""

EXPORT_PYTHONS = ((3, 10), (3, 11), (3, 12))
"""The Pythons paddle2onnx 2.1 publishes wheels for; on others pip picks a release too old to
read Paddle 3 programs."""

AGREEMENT = 1e-4
"""Largest difference allowed between the ONNX model's output and Paddle's on the probe."""

_CONVERT_LOCK = threading.Lock()  # paddle2onnx keeps module-level state; one conversion at a time


def onnx_from_static(program: Path, params: Path, *, batch_axis: str = "batch") -> bytes:
    """The ONNX model of the static inference model ``program`` + ``params``.

    Args:
        program: ``PREFIX.json`` (or a legacy ``PREFIX.pdmodel``).
        params: ``PREFIX.pdiparams``.
        batch_axis: the name given to the input's and output's first (dynamic) axis.

    Raises:
        MissingDependencyError: paddle2onnx is not installed (or cannot be, on this Python).
        ModelFormatError: paddle2onnx cannot convert the program, or the converted model
            computes something else than the program.
    """
    paddle2onnx = _import_paddle2onnx()
    with _CONVERT_LOCK, _captured_stdout() as printed:
        try:
            converted = paddle2onnx.export(
                str(program),
                str(params),
                save_file=None,
                opset_version=OPSET,
                auto_upgrade_opset=True,
                enable_onnx_checker=True,
                verbose=False,
            )
        except Exception as exc:  # paddle2onnx logs its own error, then fails on its result
            converted = None
            failure: Exception | None = exc
        else:
            failure = None
    if printed:
        logger.debug("paddle2onnx printed:\n%s", printed[0])
    if not isinstance(converted, bytes) or not converted:
        detail = (printed[0].strip().splitlines() or [""])[-1] if printed else ""
        raise ModelFormatError(
            f"{program}: paddle2onnx could not convert this program to ONNX"
            f"{f' ({detail})' if detail else ''}. Check that it is a Paddle inference model "
            "(saved with mnistcnn.save(..., format='static') or paddle.jit.save)."
        ) from failure
    model = _tidied(converted, batch_axis)
    _check_against_paddle(model, program, params)
    return model


def _import_paddle2onnx() -> Any:
    if sys.version_info[:2] not in EXPORT_PYTHONS:
        pythons = ", ".join(f"{major}.{minor}" for major, minor in EXPORT_PYTHONS)
        raise MissingDependencyError(
            "ONNX export goes through paddle2onnx, which publishes wheels for Python "
            f"{pythons} only; this is Python {sys.version_info[0]}.{sys.version_info[1]}. "
            f"Export with Python {pythons} (mnistcnn export MODEL --format onnx): the .onnx "
            "file it writes runs with ONNX Runtime on every Python, this one included."
        )
    if find_spec("paddle2onnx") is None or find_spec("onnx") is None:
        raise MissingDependencyError(
            'ONNX export needs paddle2onnx, an optional extra: pip install "mnistcnn[onnx]".'
        )
    import paddle2onnx

    return paddle2onnx


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """Catch what native code prints on file descriptor 1 while the body runs.

    paddle2onnx's C++ prints progress with ``std::cout``, which no Python setting reaches;
    an application printing JSON or CSV to its standard output must not get it mixed in.
    """
    printed: list[str] = []
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output to redirect (a detached process): nothing to catch
        yield printed
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield printed
        finally:
            with contextlib.suppress(ValueError, OSError):
                sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            printed.append(sink.read().decode("utf-8", "replace"))


def _tidied(model_bytes: bytes, batch_axis: str) -> bytes:
    """The model without unused initializers, its dynamic axes named."""
    import onnx

    model = onnx.load_model_from_string(model_bytes)
    graph = model.graph
    while True:  # drop nodes (paddle2onnx leaves unused Constant ones) and tensors nobody reads
        used = {name for node in graph.node for name in node.input}
        used |= {output.name for output in graph.output}
        nodes = [node for node in graph.node if any(name in used for name in node.output)]
        tensors = [tensor for tensor in graph.initializer if tensor.name in used]
        if len(nodes) == len(graph.node) and len(tensors) == len(graph.initializer):
            break
        del graph.node[:], graph.initializer[:]
        graph.node.extend(nodes)
        graph.initializer.extend(tensors)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = batch_axis
    for index, dim in enumerate(graph.input[0].type.tensor_type.shape.dim):
        if index and not dim.HasField("dim_value"):
            dim.dim_param = "width"  # a line reader's width, the one other dynamic axis
    model.producer_name = "mnistcnn (paddle2onnx)"
    onnx.checker.check_model(model)
    tidied: bytes = model.SerializeToString()
    return tidied


def _check_against_paddle(model_bytes: bytes, program: Path, params: Path) -> None:
    """Refuse a conversion whose output differs from the Paddle program's on a probe batch.

    Skipped when ONNX Runtime is not installed (exporting does not need it).
    """
    if find_spec("onnxruntime") is None:
        return
    import onnxruntime

    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    shape = [dim if isinstance(dim, int) else 0 for dim in feed.shape]
    shape[0] = 3
    if len(shape) == 4 and shape[3] == 0:
        shape[3] = 64  # a line reader: a line of some width
    if 0 in shape[1:]:
        return  # an input whose other axes are free: no probe to make up
    probe = np.random.default_rng(0).random(shape, dtype=np.float32)
    expected = StaticBackend(program, params, num_threads=1).run(probe)
    actual = session.run(None, {feed.name: probe})[0]
    difference = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    if actual.shape != expected.shape or difference > AGREEMENT:
        raise ModelFormatError(
            f"{program}: the ONNX conversion does not compute what the Paddle program does "
            f"(outputs {actual.shape} vs {expected.shape}, largest difference {difference:.2g}); "
            "nothing was saved. Please report this with the model."
        )
