"""The small JSON file saved beside every model: what the files hold and how to feed them."""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._errors import MnistCnnWarning, ModelFormatError
from .._input._preprocess import DEFAULT_VALUE_RANGE
from .._models._kinds import LINE_ARCHITECTURES
from ._history import History

if TYPE_CHECKING:
    from paddle import nn

OutputKind = Literal["logits", "probabilities"]

META_SUFFIX = "_meta.json"
"""``PREFIX_meta.json``. Not ``PREFIX.meta.json``: ``paddle.jit.load(PREFIX)`` takes every
``PREFIX.NAME.json`` for the program of a saved method and fails on anything else."""

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
            the history was given to :func:`mnistcnn.save`; ``None`` too, with a
            :class:`mnistcnn.MnistCnnWarning`, if the saved record cannot be read (it never
            stops a model from loading).
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
        history = _history_or_none(document.get("training"), source=source)
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


def _history_or_none(training: Any, *, source: str) -> History | None:
    """The training record as a :class:`History`; ``None`` with a warning if it cannot be read.

    The record only says how the model was trained: the model runs without it, so a damaged
    record (or one from a newer mnistcnn that changed a field this one relies on) never stops
    the model from loading.
    """
    if training is None:
        return None
    try:
        return History.from_dict(training)
    except ValueError as exc:
        warnings.warn(
            MnistCnnWarning(
                f"{source}: the 'training' record cannot be read ({exc}); the model is loaded "
                "without it (metadata.history is None)."
            ),
            stacklevel=3,
        )
        return None


def metadata_for(layer: nn.Layer) -> ModelMetadata:
    """Metadata for an in-memory network: registry name and output kind from its layers."""
    from .._models._architectures import architecture_of, ends_with_softmax

    return ModelMetadata(
        architecture=architecture_of(layer),
        output="probabilities" if ends_with_softmax(layer) else "logits",
    )


def current_versions() -> dict[str, str]:
    """The versions of mnistcnn and Paddle running now, without importing Paddle: loading a
    model to run on ONNX Runtime must not pay for that import."""
    from .._version import __version__

    return {"mnistcnn": __version__, "paddle": _paddle_version()}


def _paddle_version() -> str:
    paddle = sys.modules.get("paddle")
    if paddle is not None:  # imported already: its own word, the same for paddlepaddle-gpu
        return str(getattr(paddle, "__version__", "unknown"))
    for distribution in ("paddlepaddle", "paddlepaddle-gpu"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
