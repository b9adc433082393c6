"""Writing models as one unit, with metadata beside them: Paddle's formats, safetensors, ONNX."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import shutil
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_args

import numpy as np
import paddle
from paddle import nn

from .._choices import SaveFormat
from .._engines._base import Backend
from .._engines._onnxruntime import OnnxRuntimeBackend
from .._engines._static import StaticBackend
from .._errors import ModelExistsError, ModelFormatError
from .._input._lines import LINE_HEIGHT
from .._input._preprocess import INPUT_SHAPE
from .._models._architectures import reads_lines
from ._atomic import finish_interrupted, fsync, replace_model, staging_directory
from ._files import (
    DYNAMIC,
    ONNX,
    SAFETENSORS,
    STATIC_PARAMS,
    STATIC_PROGRAMS,
    WEIGHTS,
    file_sha256,
    prefix_of,
    sha256_of,
    with_suffix,
)
from ._metadata import META_SUFFIX, ModelMetadata, current_versions, metadata_for

if TYPE_CHECKING:
    from ._history import History

__all__ = ["SaveFormat", "save"]


class LoadedModel(Protocol):
    """What :func:`save` needs of a :class:`mnistcnn.DigitClassifier` (a protocol, so that
    saving never imports the inference stage above it)."""

    _backend: Backend
    _source: Path | None

    @property
    def backend(self) -> str: ...

    @property
    def metadata(self) -> ModelMetadata: ...

    @property
    def network(self) -> nn.Layer | None: ...


logger = logging.getLogger(__name__)

_FORMATS: tuple[SaveFormat, ...] = get_args(SaveFormat)

INPUT_NAME = "x"

_OURS = (
    SAFETENSORS,
    DYNAMIC,
    *STATIC_PROGRAMS,
    STATIC_PARAMS,
    ".pdiparams.info",
    ONNX,
    META_SUFFIX,
)
"""Every file a save may write: those the new model lacks are removed with the old model."""

_EXPORT_LOCK = threading.Lock()


def save(
    model: nn.Layer | LoadedModel,
    path: str | os.PathLike[str],
    *,
    format: SaveFormat | Collection[SaveFormat] = "both",
    accuracy: float | None = None,
    history: History | None = None,
    replace: bool = False,
) -> tuple[Path, ...]:
    """Save a model under a path prefix, in Paddle's own file formats or safetensors.

    ``"dynamic"`` writes ``PATH.pdparams`` (the layer's ``state_dict``, which
    ``paddle.Model(net).load(PATH)`` and ``paddle.load`` read). ``"safetensors"`` writes the same
    weights as ``PATH.safetensors``: raw arrays behind a JSON header, nothing executable, the
    format to give to strangers. ``"static"`` writes a static inference model with
    ``paddle.jit.save`` (``PATH.json`` + ``PATH.pdiparams`` on Paddle 3, ``PATH.pdmodel`` +
    ``PATH.pdiparams`` with the legacy IR), which ``paddle.static.load_inference_model``,
    ``paddle.jit.load`` and the Paddle Inference predictor read; its input is named ``x``:
    float32 of shape (n, 1, 28, 28) in [0, 1]. ``"onnx"`` writes ``PATH.onnx`` (opset 13, a
    dynamic batch axis, the same input ``x``) for ONNX Runtime, converted from the static model
    by paddle2onnx (the ``onnx`` extra; Python 3.10-3.12) and checked against it. ``"both"`` is
    ``"dynamic"`` and ``"static"``; a list such as ``["safetensors", "static", "onnx"]`` writes
    each format named.

    ``PATH_meta.json`` records the architecture, the input convention, the output kind, the
    library versions, the accuracy and training history if given and the SHA-256 of each file, so
    :meth:`DigitClassifier.load` needs nothing else.

    The files are replaced as one unit: killed at any moment, a save leaves either the complete
    previous model or the complete new one for :meth:`DigitClassifier.load`, never a mix (the
    next load or save finishes a save that was killed after its commit point).

    A save replaces the files of the formats it writes, and never removes another file without
    being asked: a model already at ``path`` in other formats stays beside the new files (and
    in the metadata) when it is the model being saved, loaded from there and unchanged, so
    that saving a loaded model in another format adds that format; any other model's files are
    removed with ``replace=True``, and without it the save refuses (:class:`ModelExistsError`).

    Args:
        model: a network (from :func:`build_model` or any layer mapping (n, 1, 28, 28) to
            (n, 10)), or a :class:`DigitClassifier`. A classifier loaded from a static model
            can be saved as ``"static"`` and ``"onnx"``, one loaded from an ``.onnx`` file as
            ``"onnx"``; every format can be written from a network.
        path: the path prefix; a known suffix such as ``.pdparams`` is stripped.
        format: ``"dynamic"``, ``"safetensors"``, ``"static"``, ``"onnx"``, ``"both"``, or a
            list of them.
        accuracy: the test accuracy to record in the metadata.
        history: what :func:`train` returned, to record the recipe, seed and per-epoch loss
            and accuracy in the metadata (``DigitClassifier.metadata.history``).
        replace: remove the files of another model already at ``path`` in formats this save
            does not write (without it, such files make the save fail).

    Returns:
        The paths written, metadata last.

    Raises:
        ValueError: ``format`` names no known format, or one that cannot be written from
            ``model`` (weights from a classifier that holds no network).
        MissingDependencyError: ``"onnx"`` without paddle2onnx installed, or on a Python it
            has no release for.
        ModelFormatError: the ONNX conversion failed, or computes something else than the
            network.
        ModelExistsError: another model's files are at ``path`` in formats this save does
            not write, and ``replace`` is false; nothing was written.

    Examples:
        >>> import tempfile
        >>> from mnistcnn import build_model
        >>> folder = tempfile.mkdtemp()
        >>> [p.name for p in save(build_model("fast"), f"{folder}/m", format="safetensors")]
        ['m.safetensors', 'm_meta.json']
    """
    formats = _formats(format)
    prefix = prefix_of(path)
    source = _recognised_at(_source_of(model, formats), prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    finish_interrupted(prefix)
    kept = _files_kept(source, prefix, formats, replace=replace)  # or refuse, before any work
    staging = staging_directory(prefix)
    try:
        artefacts = _write_artefacts(source, formats, staging / prefix.name)
        digests = {p.name[len(prefix.name) :]: sha256_of(p.read_bytes()) for p in artefacts}
        metadata = _metadata(source, {**kept, **digests}, accuracy, history)
        meta_path = with_suffix(staging / prefix.name, META_SUFFIX)
        meta_path.write_text(metadata.to_json(), encoding="utf-8")
        names = [p.name for p in [*artefacts, meta_path]]
        for name in names:
            fsync(staging / name)
        stale = [prefix.name + suffix for suffix in _OURS if suffix not in kept]
        replace_model(staging, prefix, names=names, stale=stale)
        written = tuple(prefix.parent / name for name in names)
        logger.debug("saved %s", ", ".join(str(p) for p in written))
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already once committed


def _write_artefacts(source: _Source, formats: set[str], staged_prefix: Path) -> list[Path]:
    """Write each format asked for under ``staged_prefix``; the files written, sorted."""
    layer = source.layer
    if "dynamic" in formats and layer is not None:
        paddle.save(layer.state_dict(), str(with_suffix(staged_prefix, DYNAMIC)))
    if "safetensors" in formats and layer is not None:
        _save_safetensors(layer, with_suffix(staged_prefix, SAFETENSORS))
    if "static" in formats:
        _write_static(source, staged_prefix)
    if "onnx" in formats:
        _write_onnx(source, staged_prefix, formats)
    return sorted(p for p in staged_prefix.parent.iterdir() if p.is_file())


def _metadata(
    source: _Source,
    files: dict[str, str],
    accuracy: float | None,
    history: History | None,
) -> ModelMetadata:
    base = source.metadata
    return ModelMetadata(
        architecture=base.architecture,
        output=base.output,
        value_range=base.value_range,
        classes=base.classes,
        accuracy=accuracy if accuracy is not None else base.accuracy,
        files=dict(sorted(files.items())),
        versions=current_versions(),
        history=history if history is not None else base.history,
    )


_FAMILIES: dict[str, tuple[str, ...]] = {
    "safetensors": (SAFETENSORS,),
    "dynamic": (DYNAMIC,),
    "static": (*STATIC_PROGRAMS, STATIC_PARAMS, ".pdiparams.info"),
    "onnx": (ONNX,),
}
"""The files each format writes: a save replaces these for the formats it writes."""


def _files_kept(
    source: _Source, prefix: Path, formats: set[str], *, replace: bool
) -> dict[str, str]:
    """The files of other formats already at ``prefix`` that stay, with their digests.

    They stay when they hold the very model being saved (loaded from them and not changed
    since, or a network holding exactly the weights saved there), so that exporting a model
    to another format beside its files adds that format. Files of another model are removed
    only with ``replace``: otherwise this refuses, rather than delete what the caller did not
    name, or mix two models under one prefix.
    """
    ours = {suffix for name in formats for suffix in _FAMILIES[name]}
    others = sorted(
        suffix
        for family in _FAMILIES.values()
        for suffix in family
        if suffix not in ours and with_suffix(prefix, suffix).is_file()
    )
    if not others:
        return {}
    listed = source.listed_at(prefix)
    if listed is not None and all(suffix in listed for suffix in others):
        return {suffix: listed[suffix] for suffix in others}
    if replace:
        return {}
    names = ", ".join(with_suffix(prefix, suffix).name for suffix in others)
    raise ModelExistsError(
        f"{prefix.parent / prefix.name}: {names} already "
        f"{'holds' if len(others) == 1 else 'hold'} a model here, in formats this "
        f"save does not write ({', '.join(sorted(formats))}); keeping them would put two models "
        "under one prefix. Pass replace=True (on the command line, --replace) to remove them, "
        "or save to another path."
    )


def _formats(format: SaveFormat | Collection[SaveFormat]) -> set[str]:
    requested = [format] if isinstance(format, str) else list(format)
    unknown = [f for f in requested if f not in _FORMATS]
    if unknown or not requested:
        raise ValueError(
            f"format must be one of {list(_FORMATS)} or a list of them; got {format!r}."
        )
    chosen: set[str] = set(requested)
    if "both" in chosen:
        chosen |= {"dynamic", "static"}
    return chosen - {"both"}


def _save_safetensors(layer: nn.Layer, path: Path) -> None:
    from safetensors.numpy import save as to_bytes

    arrays = {
        name: np.ascontiguousarray(value.numpy()) for name, value in layer.state_dict().items()
    }
    # Written here rather than by safetensors' save_file, which creates files readable by their
    # owner only, unlike every other file of a model.
    path.write_bytes(to_bytes(arrays, metadata={"format": "mnistcnn-weights"}))


@dataclass(frozen=True)
class _Source:
    """What a save writes from: a network, or the files of a loaded static or ONNX model."""

    metadata: ModelMetadata
    layer: nn.Layer | None = None
    static: tuple[Path, Path] | None = None  # program, params
    onnx: Path | None = None
    origin: Path | None = None
    """The file the model was loaded from, if it was loaded and is unchanged since."""

    def listed_at(self, prefix: Path) -> dict[str, str] | None:
        """The files (suffix: digest) of the model at ``prefix``, if that is the model saved
        (loaded from there, unchanged, its files as their metadata lists them); else None."""
        if self.origin is None or prefix_of(self.origin).resolve() != prefix.resolve():
            return None
        meta = with_suffix(prefix, META_SUFFIX)
        try:
            listed = dict(ModelMetadata.read(meta).files)
        except (ModelFormatError, FileNotFoundError):
            return None
        for suffix, digest in listed.items():
            present = with_suffix(prefix, suffix)
            if not present.is_file() or file_sha256(present) != digest:
                return None
        return listed


def _source_of(model: nn.Layer | LoadedModel, formats: set[str]) -> _Source:
    """Where each format asked for comes from, refusing formats ``model`` cannot give."""
    if isinstance(model, nn.Layer):
        return _Source(metadata_for(model), layer=model)
    layer = model.network
    if layer is not None:
        origin = model._source if _holds_weights_of(layer, model._source) else None
        return _Source(model.metadata, layer=layer, origin=origin)
    engine = model._backend
    if isinstance(engine, StaticBackend):
        static = (engine.program, engine.params)
        source = _Source(model.metadata, static=static, origin=model._source)
        possible = {"static", "onnx"}
    elif isinstance(engine, OnnxRuntimeBackend):
        source = _Source(model.metadata, onnx=engine.program, origin=model._source)
        possible = {"onnx"}
    else:
        raise ValueError(f"cannot save a classifier running on {model.backend!r}.")
    if not formats <= possible:
        raise ValueError(
            f"this DigitClassifier runs a {model.backend} model, which holds no network: it can "
            f"be saved as {sorted(possible)} only, not {sorted(formats - possible)}. Load the "
            "weights file (backend='dynamic') to write every format."
        )
    return source


def _recognised_at(source: _Source, prefix: Path) -> _Source:
    """A network that holds exactly the weights saved at ``prefix`` is that model, however it
    came back into memory: its other files may stay, and its metadata (accuracy, training
    record) carries over."""
    if source.layer is None or source.origin is not None:
        return source
    for suffix in WEIGHTS:
        weights = with_suffix(prefix, suffix)
        if weights.is_file() and _holds_weights_of(source.layer, weights):
            try:
                saved = ModelMetadata.read(with_suffix(prefix, META_SUFFIX))
            except (ModelFormatError, OSError):
                return source
            if saved.architecture == source.metadata.architecture:
                return dataclasses.replace(source, origin=weights, metadata=saved)
    return source


def _holds_weights_of(layer: nn.Layer, weights: Path | None) -> bool:
    """Whether ``layer`` still holds exactly the weights in the file it was loaded from."""
    if weights is None or not weights.name.endswith(WEIGHTS):
        return False
    from ._loading import read_weights

    try:
        stored = read_weights(weights)
    except ModelFormatError:
        return False
    current = layer.state_dict()
    return stored.keys() == current.keys() and all(
        np.array_equal(np.asarray(stored[name]), value.numpy()) for name, value in current.items()
    )


def _write_static(source: _Source, prefix: Path) -> None:
    if source.layer is not None:
        _export_static(source.layer, prefix)
    elif source.static is not None:
        program, params = source.static
        shutil.copyfile(program, with_suffix(prefix, program.suffix))
        shutil.copyfile(params, with_suffix(prefix, STATIC_PARAMS))


def _write_onnx(source: _Source, prefix: Path, formats: set[str]) -> None:
    """``PREFIX.onnx``, converted from the static model (written for the purpose if need be)."""
    from ._onnx_export import onnx_from_static

    if source.onnx is not None:
        shutil.copyfile(source.onnx, with_suffix(prefix, ONNX))
        return
    if source.static is not None and "static" not in formats:
        program, params = source.static
    else:
        if "static" not in formats:  # a static model only to convert from, not kept
            scratch = prefix.parent / "onnx-source"
            scratch.mkdir()
            _write_static(source, scratch / prefix.name)
            prefix_for_static = scratch / prefix.name
        else:
            prefix_for_static = prefix
        program = next(
            with_suffix(prefix_for_static, suffix)
            for suffix in STATIC_PROGRAMS
            if with_suffix(prefix_for_static, suffix).is_file()
        )
        params = with_suffix(prefix_for_static, STATIC_PARAMS)
    with_suffix(prefix, ONNX).write_bytes(onnx_from_static(program, params))


def _export_static(layer: nn.Layer, prefix: Path) -> None:
    shape = [None, 1, LINE_HEIGHT, None] if reads_lines(layer) else [None, *INPUT_SHAPE]
    spec = paddle.static.InputSpec(shape, "float32", INPUT_NAME)
    was_training = layer.training
    with _EXPORT_LOCK:
        _forget_aborted_traces()
        layer.eval()
        try:
            paddle.jit.save(layer, str(prefix), input_spec=[spec])
        finally:
            _forget_aborted_traces()
            if was_training:
                layer.train()


def _forget_aborted_traces() -> None:
    """Drop what Paddle's tracer kept from traces that raised.

    While ``paddle.jit`` traces a network into a program, it records the parameters the
    program uses in a process-wide table keyed by ``id(program)``, and removes the entry when
    the trace ends, but not when the trace raises. The stale entry keeps another network's
    parameters; a later program allocated at the same address inherits them, and
    ``paddle.jit.save`` fails with ``KeyError`` on a parameter the saved network does not have
    (seen as ``KeyError: 'linear_28.b_0'`` when many networks are exported in one process).
    Between traces every entry is stale, so exports (serialised by ``_EXPORT_LOCK``) start
    and end with empty tables.
    """
    for table in trace_tables():
        table.clear()


def trace_tables() -> list[dict[Any, Any]]:
    """Paddle's process-wide tables of what traces in progress use (where this Paddle has them:
    ``paddle.jit.dy2static.parameter_recorder`` since 3.2, ``paddle.jit.pir_dy2static`` in 3.1,
    and the legacy IR's recorder on the ``ProgramTranslator``)."""
    holders: list[object] = []
    for module_name in ("dy2static", "pir_dy2static"):
        try:
            module = importlib.import_module(f"paddle.jit.{module_name}.parameter_recorder")
        except ImportError:
            continue
        holders += [getattr(module, "_global_parameter_recorder", None)]
        holders += [getattr(module, "_global_inplace_map", None)]
    with contextlib.suppress(Exception):  # a Paddle without the legacy translator
        from paddle.jit.dy2static.program_translator import ProgramTranslator

        translator = ProgramTranslator.get_instance()
        holders += [getattr(translator, "_params_recorder", None)]
        holders += [getattr(translator, "_inplace_map", None)]
    tables = []
    for holder in holders:
        for attribute in ("params_dict", "tensor2value"):
            table = getattr(holder, attribute, None)
            if isinstance(table, dict):
                tables.append(table)
    return tables
