"""Opening saved models, whichever files they were saved as, without trusting the files.

Weights are read as bytes once, checked against the SHA-256 in the metadata, then parsed:
safetensors by the ``safetensors`` library, Paddle's pickled ``.pdparams`` by the restricted
unpickler of :mod:`mnistcnn._formats._unpickle` (never ``paddle.load``, which would run a
crafted file's code). A save that a crash interrupted is completed first
(:mod:`mnistcnn._formats._atomic`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._choices import BackendName
from .._engines._base import Backend
from .._engines._onnxruntime import OnnxRuntimeBackend
from .._engines._static import StaticBackend
from .._errors import (
    InconsistentVersionWarning,
    MissingDependencyError,
    ModelFormatError,
    ModelNotFoundError,
)
from .._models._kinds import LINE_ARCHITECTURES
from ._atomic import finish_interrupted, locked
from ._files import (
    DYNAMIC,
    ONNX,
    SAFETENSORS,
    STATIC_PARAMS,
    STATIC_PROGRAMS,
    WEIGHTS,
    ModelFiles,
    file_sha256,
    prefix_of,
    sha256_of,
    split_model_path,
)
from ._metadata import META_SUFFIX, ModelMetadata, current_versions
from ._unpickle import state_from_bytes

if TYPE_CHECKING:
    from paddle import nn

__all__ = ["BACKENDS", "LoadedModel", "open_model"]

BACKENDS: tuple[BackendName, ...] = ("dynamic", "static", "onnxruntime")


@dataclass(frozen=True)
class LoadedModel:
    backend: Backend
    metadata: ModelMetadata
    source: Path


def open_model(
    path: str | os.PathLike[str],
    *,
    backend: BackendName | None,
    architecture: str | None,
    num_threads: int | None,
) -> LoadedModel:
    """The model at ``path`` (a prefix or any of its files), ready to run; see
    :meth:`mnistcnn.DigitClassifier.load` for the arguments and errors."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be None or one of {list(BACKENDS)}; got {backend!r}.")
    prefix, suffix = split_model_path(path)
    named = _named_file(Path(path).expanduser(), suffix, backend)
    if prefix.parent.is_dir():
        finish_interrupted(prefix)
        with locked(prefix.parent, exclusive=False):  # no save replaces files while we read
            return _open(prefix, backend, architecture, num_threads, named)
    return _open(prefix, backend, architecture, num_threads, named)


_ENGINE_OF_SUFFIX: dict[str, BackendName] = {
    SAFETENSORS: "dynamic",
    DYNAMIC: "dynamic",
    ".json": "static",
    ".pdmodel": "static",
    STATIC_PARAMS: "static",
    ".pdiparams.info": "static",
    ONNX: "onnxruntime",
}


def _named_file(path: Path, suffix: str | None, backend: BackendName | None) -> Path | None:
    """The one file a path with a model suffix names (``None`` for a prefix, or the metadata
    file, which stands for the whole model). It must exist, and be one ``backend`` runs."""
    if suffix is None or suffix == META_SUFFIX:
        return None
    engine = _ENGINE_OF_SUFFIX.get(suffix)
    if engine is None:
        raise ModelNotFoundError(
            f"{path} is not a model file ({suffix} holds optimizer state). Pass the model's "
            "weights file, or its path prefix."
        )
    if not path.is_file():
        raise ModelNotFoundError(
            f"{path}: no such file. A path with a suffix loads that file only; pass the path "
            f"prefix {prefix_of(path)} to load whichever model files are there."
        )
    if backend is not None and backend != engine:
        raise ValueError(
            f"{path} is a file for the {engine!r} engine, not {backend!r}. Leave backend "
            f"unset, or pass the path prefix {prefix_of(path)} to choose among its files."
        )
    return path


def _open(
    prefix: Path,
    backend: BackendName | None,
    architecture: str | None,
    num_threads: int | None,
    named: Path | None,
) -> LoadedModel:
    files = ModelFiles.find(prefix)
    metadata = ModelMetadata.read(files.meta) if files.meta is not None else None
    if metadata is not None:
        warn_if_other_version(metadata, files.meta or prefix)
    program = _static_program(files, metadata)
    params = files.params
    weights = _weights_file(files, metadata)
    onnx_model = _listed(files.onnx, ONNX, metadata)
    if named is not None:  # that file and its engine, or an error: never another file
        _check_listed(named, prefix, metadata)
        backend = _ENGINE_OF_SUFFIX[split_model_path(named)[1] or ""]
        if named.name.endswith(WEIGHTS):
            weights = named
        elif named.name.endswith(STATIC_PROGRAMS):
            program = named
    # The fastest engine there is files and an installed package for: ONNX Runtime, then the
    # Paddle Inference predictor, then the dynamic graph (benchmarks/inference.py measures it).
    candidates: list[BackendName] = [backend] if backend else []
    if not backend and onnx_model is not None and find_spec("onnxruntime") is not None:
        candidates.append("onnxruntime")
    if not backend and program is not None and params is not None:
        candidates.append("static")
    if not backend and weights is not None:
        candidates.append("dynamic")
    for position, chosen in enumerate(candidates):
        fallback = candidates[position + 1] if position + 1 < len(candidates) else None
        try:
            if chosen == "onnxruntime" and onnx_model is not None:
                return _open_onnx(onnx_model, files.prefix, metadata, num_threads)
            if chosen == "static" and program is not None and params is not None:
                return _open_static(program, params, files.prefix, metadata, num_threads)
        except (ModelFormatError, MissingDependencyError) as exc:
            if fallback is None:
                raise
            warnings.warn(f"{exc} Using the {fallback} model instead.", stacklevel=4)
            continue
        if chosen == "dynamic" and weights is not None:
            return _open_dynamic(weights, files.prefix, metadata, architecture, num_threads)
    raise ModelNotFoundError(_not_found_message(files, backend))


def _open_onnx(
    path: Path, prefix: Path, metadata: ModelMetadata | None, num_threads: int | None
) -> LoadedModel:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot be read ({exc}).") from exc
    expected = _expected_digest(metadata, prefix, path)
    if expected is not None and sha256_of(data) != expected:
        raise _digest_error(path)
    engine = OnnxRuntimeBackend(data, source=path, num_threads=num_threads)
    reads_lines = metadata is not None and metadata.architecture in LINE_ARCHITECTURES
    if not reads_lines and engine.input_shape[1:] not in ((1, 28, 28), (None, None, None)):
        raise ModelFormatError(
            f"{path}: the model takes input of shape {list(engine.input_shape)}; a digit "
            "classifier takes (n, 1, 28, 28)."
        )
    metadata = metadata or ModelMetadata(architecture=None, output=_probe_output(engine))
    return LoadedModel(engine, metadata, path)


def _open_static(
    program: Path,
    params: Path,
    prefix: Path,
    metadata: ModelMetadata | None,
    num_threads: int | None,
) -> LoadedModel:
    if metadata is not None:
        _check_digests(metadata, prefix, (program, params))
    try:
        static = StaticBackend(program, params, num_threads=num_threads)
    except (ValueError, RuntimeError, OSError) as exc:  # Paddle's errors when it cannot
        written_by = metadata.versions.get("paddle", "?") if metadata else "?"
        running = current_versions()["paddle"]
        raise ModelFormatError(
            f"{program}: Paddle {running} cannot run this static model "
            f"(written by Paddle {written_by}): {str(exc).splitlines()[0]}. "
            "Upgrade paddlepaddle, or load the weights file (backend='dynamic')."
        ) from exc
    metadata = metadata or ModelMetadata(architecture=None, output=_probe_output(static))
    return LoadedModel(static, metadata, program)


def _open_dynamic(
    weights: Path,
    prefix: Path,
    metadata: ModelMetadata | None,
    architecture: str | None,
    num_threads: int | None,
) -> LoadedModel:
    if metadata is not None and architecture and metadata.architecture not in (None, architecture):
        raise ModelFormatError(
            f"{weights}: saved as architecture {metadata.architecture!r}, but "
            f"architecture={architecture!r} was asked for. Leave architecture unset."
        )
    name = architecture or (metadata.architecture if metadata else None) or "tutorial"
    expected = _expected_digest(metadata, prefix, weights)
    layer = build_layer(read_weights(weights, expected_sha256=expected), name, source=weights)
    metadata = metadata or ModelMetadata(architecture=name, output="logits")
    from .._engines._dynamic import DynamicBackend

    return LoadedModel(DynamicBackend(layer, num_threads=num_threads), metadata, weights)


def read_weights(path: Path, *, expected_sha256: str | None = None) -> dict[str, Any]:
    """The state dict in a ``.safetensors`` or ``.pdparams`` file, parsed without running code.

    Raises:
        ModelFormatError: the file differs from its recorded digest, is damaged, or is not
            plain weights.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot be read ({exc}).") from exc
    if expected_sha256 is not None and sha256_of(data) != expected_sha256:
        raise _digest_error(path)
    if path.name.endswith(SAFETENSORS):
        from safetensors.numpy import load

        try:
            return dict(load(data))
        except Exception as exc:  # safetensors raises its own SafetensorError, and others
            raise ModelFormatError(f"{path}: not a readable safetensors file ({exc}).") from exc
    return state_from_bytes(data, source=path)


def build_layer(state: dict[str, Any], architecture: str, *, source: Path) -> nn.Layer:
    """A network of ``architecture`` holding the weights ``state`` (checked name by name)."""
    from .._models._architectures import available_models, build_model

    if architecture not in available_models():
        raise ModelFormatError(
            f"{source}: unknown architecture {architecture!r}; available: "
            f"{', '.join(available_models())}."
        )
    layer = build_model(architecture)
    expected = {name: list(value.shape) for name, value in layer.state_dict().items()}
    found = {name: list(np.shape(value)) for name, value in state.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        shapes = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
        raise ModelFormatError(
            f"{source}: the weights do not fit architecture {architecture!r} "
            f"(missing: {missing or 'none'}; unexpected: {extra or 'none'}; "
            f"wrong shape: {shapes or 'none'}). Pass the right architecture=."
        )
    for name, value in state.items():
        if not np.issubdtype(np.asarray(value).dtype, np.floating):
            raise ModelFormatError(f"{source}: {name} holds {np.asarray(value).dtype}, not floats.")
    layer.set_state_dict(state)
    layer.eval()
    return layer


def warn_if_other_version(metadata: ModelMetadata, source: Path) -> None:
    """Warn when the files were written by another major mnistcnn or Paddle version."""
    ours = current_versions()
    for package in ("mnistcnn", "paddle"):
        theirs = metadata.versions.get(package)
        if theirs is not None and _release(theirs) != _release(ours[package]):
            warnings.warn(
                InconsistentVersionWarning(
                    f"{source}: written by {package} {theirs}, loaded with {ours[package]}. "
                    "It may load and run differently; check its accuracy (mnistcnn evaluate), "
                    "or save it again with this version.",
                    package=package,
                    saved_version=theirs,
                    current_version=ours[package],
                ),
                stacklevel=5,
            )


def _release(version: str) -> tuple[str, ...]:
    """The part of a version that promises compatibility: the major number (``0.x``: major
    and minor, as 0.x releases may change formats)."""
    parts = version.split(".")
    return tuple(parts[:2]) if parts[0] == "0" else tuple(parts[:1])


def _weights_file(files: ModelFiles, metadata: ModelMetadata | None) -> Path | None:
    """The dynamic weights to read: safetensors first; with metadata, only files it lists
    (others are left over from an earlier save)."""
    for suffix, found in ((SAFETENSORS, files.safetensors), (DYNAMIC, files.dynamic)):
        if found is not None and (metadata is None or suffix in metadata.files):
            return found
    return None


def _listed(found: Path | None, suffix: str, metadata: ModelMetadata | None) -> Path | None:
    """``found``, unless the metadata does not list it (a file left over from an earlier save)."""
    if found is None or (metadata is not None and suffix not in metadata.files):
        return None
    return found


def _static_program(files: ModelFiles, metadata: ModelMetadata | None) -> Path | None:
    """The static program file, preferring the one the metadata describes."""
    if metadata is None:
        return files.program
    for suffix in STATIC_PROGRAMS:
        if suffix in metadata.files and STATIC_PARAMS in metadata.files:
            candidate = files.prefix.with_name(files.prefix.name + suffix)
            return candidate if candidate.is_file() else None
    return None


def _check_listed(named: Path, prefix: Path, metadata: ModelMetadata | None) -> None:
    suffix = named.name[len(prefix.name) :]
    if metadata is not None and suffix not in metadata.files:
        raise ModelFormatError(
            f"{named} is not part of the model its metadata describes (which lists "
            f"{', '.join(sorted(metadata.files))}): it was left there by an earlier save. Load "
            "one of the files listed, or save the model again."
        )


def _expected_digest(metadata: ModelMetadata | None, prefix: Path, path: Path) -> str | None:
    return None if metadata is None else metadata.files.get(path.name[len(prefix.name) :])


def _check_digests(metadata: ModelMetadata, prefix: Path, paths: tuple[Path, ...]) -> None:
    for path in paths:
        expected = _expected_digest(metadata, prefix, path)
        if expected is not None and file_sha256(path) != expected:
            raise _digest_error(path)


def _digest_error(path: Path) -> ModelFormatError:
    return ModelFormatError(
        f"{path} does not match its metadata (the SHA-256 differs): it was changed or "
        "replaced after saving. Save the model again, or get the files again."
    )


def _probe_output(
    backend: StaticBackend | OnnxRuntimeBackend,
) -> Literal["logits", "probabilities"]:
    """Whether a static model without metadata ends in softmax, judged from its output.

    The tutorial's own ``training=False`` export ends in ``Softmax``; its output must not be
    soft-maxed again. Logits that happen to be non-negative and sum to 1 on every row of
    random input are, in practice, impossible.
    """
    probe = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    output = backend.run(probe)
    if output.ndim != 2 or output.shape[1] != 10:
        raise ModelFormatError(
            f"{backend.program}: the model outputs shape {output.shape}, expected (n, 10)."
        )
    is_distribution = (output >= 0).all() and np.allclose(output.sum(axis=1), 1.0, atol=1e-4)
    return "probabilities" if is_distribution else "logits"


def _not_found_message(files: ModelFiles, backend: BackendName | None) -> str:
    prefix = files.prefix
    weights = f"{prefix}.safetensors or {prefix}.pdparams"
    static = f"{prefix}.json (or .pdmodel) with {prefix}.pdiparams"
    onnx = f"{prefix}.onnx"
    wanted = {
        "dynamic": weights,
        "static": static,
        "onnxruntime": onnx,
        None: f"{weights}, {static}, or {onnx}",
    }[backend]
    message = f"no {backend + ' ' if backend else ''}model found: expected {wanted}."
    if files.meta is not None:
        message += (
            f" {files.meta} lists only: {', '.join(sorted(ModelMetadata.read(files.meta).files))}."
        )
    return message
