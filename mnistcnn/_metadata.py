"""The small JSON file saved beside every model: what the files hold and how to feed them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._errors import ModelFormatError
from ._history import History
from ._preprocess import DEFAULT_VALUE_RANGE

OutputKind = Literal["logits", "probabilities"]

META_SUFFIX = "_meta.json"
"""``PREFIX_meta.json``. Not ``PREFIX.meta.json``: ``paddle.jit.load(PREFIX)`` takes every
``PREFIX.NAME.json`` for the program of a saved method and fails on anything else."""

LINE_ARCHITECTURES = frozenset({"reader"})
"""Architectures that read a line of digits (input (n, 1, 32, W)) rather than classify one."""

FORMAT_NAME = "mnistcnn-model"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelMetadata:
    """What a saved model is and how it expects its input.

    Attributes:
        architecture: the :func:`mnistcnn.build_model` name, needed to rebuild a dynamic model;
            ``None`` for networks built elsewhere.
        output: ``"logits"`` or ``"probabilities"`` (a network ending in softmax).
        value_range: the network input for background and full ink; input is float32 of shape
            (n, 1, 28, 28), light ink on a dark background.
        classes: the label of each output column.
        accuracy: MNIST test accuracy, if it was measured before saving.
        files: SHA-256 of each saved file, keyed by suffix (``".pdparams"``, ``".json"``, ...).
        versions: library versions that wrote the files.
        history: how the model was trained (recipe, seed, loss and accuracy per epoch), if
            the history was given to :func:`mnistcnn.save`.
    """

    architecture: str | None
    output: OutputKind = "logits"
    value_range: tuple[float, float] = DEFAULT_VALUE_RANGE
    classes: tuple[int, ...] = tuple(range(10))
    accuracy: float | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    history: History | None = None

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "architecture": self.architecture,
            "input": {
                "shape": [None, 1, 32, None]
                if self.architecture in LINE_ARCHITECTURES
                else [None, 1, 28, 28],
                "dtype": "float32",
                "layout": "NCHW",
                "value_range": list(self.value_range),
                "polarity": "light ink on dark background",
            },
            "output": {"kind": self.output, "classes": list(self.classes)},
            "accuracy": self.accuracy,
            "files": dict(self.files),
            "versions": dict(self.versions),
        }
        if self.history is not None:
            document["training"] = self.history.to_dict()
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str) -> ModelMetadata:
        """Parse and validate a metadata document; ``source`` names it in errors."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"{source}: not valid JSON ({exc}).") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise ModelFormatError(f"{source}: not an mnistcnn model metadata file.")
        version = document.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelFormatError(
                f"{source}: metadata format version {version!r}; this mnistcnn reads version "
                f"{FORMAT_VERSION}. Upgrade mnistcnn to load this model."
            )
        try:
            architecture = document["architecture"]
            value_range = tuple(float(v) for v in document["input"]["value_range"])
            output = document["output"]["kind"]
            classes = tuple(int(c) for c in document["output"]["classes"])
            accuracy = document.get("accuracy")
            files = {str(k): str(v) for k, v in document.get("files", {}).items()}
            versions = {str(k): str(v) for k, v in document.get("versions", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFormatError(f"{source}: malformed metadata ({exc!r}).") from exc
        try:
            training = document.get("training")
            history = None if training is None else History.from_dict(training)
        except ValueError as exc:
            raise ModelFormatError(f"{source}: malformed 'training' record: {exc}") from exc
        if architecture is not None and not isinstance(architecture, str):
            raise ModelFormatError(f"{source}: 'architecture' must be a string or null.")
        if output not in ("logits", "probabilities"):
            raise ModelFormatError(
                f"{source}: output kind {output!r}; expected 'logits' or 'probabilities'."
            )
        if len(value_range) != 2 or not all(math.isfinite(v) for v in value_range):
            raise ModelFormatError(f"{source}: 'value_range' must be two finite numbers.")
        if accuracy is not None and not isinstance(accuracy, (int, float)):
            raise ModelFormatError(f"{source}: 'accuracy' must be a number or null.")
        return cls(
            architecture=architecture,
            output=output,
            value_range=(value_range[0], value_range[1]),
            classes=classes,
            accuracy=None if accuracy is None else float(accuracy),
            files=files,
            versions=versions,
            history=history,
        )

    @classmethod
    def read(cls, path: Path) -> ModelMetadata:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelFormatError(f"{path}: cannot be read ({exc}).") from exc
        return cls.from_json(text, source=str(path))


def current_versions() -> dict[str, str]:
    import paddle

    from ._version import __version__

    # paddle.__version__ rather than the distribution's: it is the same for paddlepaddle-gpu.
    return {"mnistcnn": __version__, "paddle": str(getattr(paddle, "__version__", "unknown"))}
