"""The closed choices of the public API, each spelled once as a ``Literal``.

Everything that offers or checks one of these choices derives it from here with
``typing.get_args``: the functions' own checks, the command line's ``choices=``, the server's
checks and the OpenAPI document's enums. This module imports nothing, so that the command
line's parser (``mnistcnn --help``) loads without the heavy stages.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BackendName",
    "LogLevel",
    "Preprocess",
    "ReadMethod",
    "SaveFormat",
    "Schedule",
    "Split",
]

Preprocess = Literal["auto", "normalize", "raw"]
"""How a picture becomes network input: ``"auto"``, ``"normalize"`` or ``"raw"``."""

ReadMethod = Literal["auto", "segments", "sequence"]
"""How a whole number is read: ``"auto"``, ``"segments"`` or ``"sequence"``."""

BackendName = Literal["dynamic", "static", "onnxruntime"]
"""The engine a model runs on."""

SaveFormat = Literal["dynamic", "static", "both", "safetensors", "onnx"]
"""A file format :func:`mnistcnn.save` writes."""

Split = Literal["train", "test"]
"""A split of the MNIST database."""

Schedule = Literal["constant", "onecycle", "cosine"]
"""A learning-rate schedule of a training recipe."""

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
"""How much ``mnistcnn serve`` (uvicorn) logs."""
