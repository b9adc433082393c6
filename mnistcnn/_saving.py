"""Writing models in Paddle's own formats, atomically, with metadata beside them."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import paddle
from paddle import nn

from ._files import DYNAMIC, file_sha256, prefix_of, with_suffix
from ._metadata import META_SUFFIX, ModelMetadata, current_versions
from ._models import metadata_for
from ._preprocess import INPUT_SHAPE

if TYPE_CHECKING:
    from ._classifier import DigitClassifier
    from ._history import History

__all__ = ["SaveFormat", "save"]

logger = logging.getLogger(__name__)

SaveFormat = Literal["dynamic", "static", "both"]
_FORMATS: tuple[SaveFormat, ...] = ("dynamic", "static", "both")

INPUT_NAME = "x"


def save(
    model: nn.Layer | DigitClassifier,
    path: str | os.PathLike[str],
    *,
    format: SaveFormat = "both",
    accuracy: float | None = None,
    history: History | None = None,
) -> tuple[Path, ...]:
    """Save a model under a path prefix, in Paddle's own file formats.

    ``format="dynamic"`` writes ``PATH.pdparams`` (the layer's ``state_dict``, which
    ``paddle.Model(net).load(PATH)`` and ``paddle.load`` read). ``format="static"`` writes a
    static inference model with ``paddle.jit.save`` (``PATH.json`` + ``PATH.pdiparams`` on
    Paddle 3, ``PATH.pdmodel`` + ``PATH.pdiparams`` with the legacy IR), which
    ``paddle.static.load_inference_model``, ``paddle.jit.load`` and the Paddle Inference
    predictor read. Its input is named ``x``: float32 of shape (n, 1, 28, 28) in [0, 1].

    ``PATH_meta.json`` records the architecture, the input convention, the output kind, the
    library versions, the accuracy and training history if given and the SHA-256 of each file, so
    :meth:`DigitClassifier.load` needs nothing else. All files are written to a temporary
    directory first and renamed into place, metadata last: a crash mid-way leaves the
    previous files readable and never a silently mixed set.

    Args:
        model: a network (from :func:`build_model` or any layer mapping (n, 1, 28, 28) to
            (n, 10)), or a :class:`DigitClassifier` holding one.
        path: the path prefix; a known suffix such as ``.pdparams`` is stripped.
        format: ``"dynamic"``, ``"static"`` or ``"both"``.
        accuracy: the test accuracy to record in the metadata.
        history: what :func:`train` returned, to record the recipe, seed and per-epoch loss
            and accuracy in the metadata (``DigitClassifier.metadata.history``).

    Returns:
        The paths written, metadata last.

    Raises:
        ValueError: ``format`` is not one of the three, or ``model`` holds no network.
    """
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {list(_FORMATS)}; got {format!r}.")
    layer, base = _layer_and_metadata(model)
    prefix = prefix_of(path)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.saving-", dir=prefix.parent))
    try:
        staged_prefix = staging / prefix.name
        if format in ("dynamic", "both"):
            paddle.save(layer.state_dict(), str(with_suffix(staged_prefix, DYNAMIC)))
        if format in ("static", "both"):
            _export_static(layer, staged_prefix)
        artefacts = sorted(p for p in staging.iterdir() if p.is_file())
        digests = {p.name[len(prefix.name) :]: file_sha256(p) for p in artefacts}
        metadata = ModelMetadata(
            architecture=base.architecture,
            output=base.output,
            value_range=base.value_range,
            classes=base.classes,
            accuracy=accuracy if accuracy is not None else base.accuracy,
            files=digests,
            versions=current_versions(),
            history=history if history is not None else base.history,
        )
        meta_path = with_suffix(staged_prefix, META_SUFFIX)
        meta_path.write_text(metadata.to_json(), encoding="utf-8")
        written = []
        for staged in [*artefacts, meta_path]:
            _fsync(staged)
            final = prefix.parent / staged.name
            os.replace(staged, final)
            written.append(final)
        _fsync_dir(prefix.parent)
        logger.debug("saved %s", ", ".join(str(p) for p in written))
        return tuple(written)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _layer_and_metadata(model: nn.Layer | DigitClassifier) -> tuple[nn.Layer, ModelMetadata]:
    if isinstance(model, nn.Layer):
        return model, metadata_for(model)
    layer = model.network
    if layer is None:
        raise ValueError(
            "this DigitClassifier runs a static inference model, which holds no network to "
            "save; load the .pdparams file (backend='dynamic') to re-export it, or copy the "
            "files as they are."
        )
    return layer, model.metadata


def _export_static(layer: nn.Layer, prefix: Path) -> None:
    spec = paddle.static.InputSpec([None, *INPUT_SHAPE], "float32", INPUT_NAME)
    was_training = layer.training
    layer.eval()
    try:
        paddle.jit.save(layer, str(prefix), input_spec=[spec])
    finally:
        if was_training:
            layer.train()


def _fsync(path: Path) -> None:
    with path.open("rb") as stream:
        os.fsync(stream.fileno())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on Windows; rename is still atomic
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
