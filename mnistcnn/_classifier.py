"""``DigitClassifier``: one interface over dynamic (``.pdparams``) and static models."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import paddle
from paddle import nn

from ._backends import Backend, BackendName, DynamicBackend, StaticBackend
from ._errors import ModelFormatError, ModelNotFoundError
from ._files import DYNAMIC, STATIC_PARAMS, STATIC_PROGRAMS, ModelFiles, file_sha256, prefix_of
from ._inputs import Images, PictureInput, Preprocess, check_options, model_batches, picture_unit
from ._metadata import ModelMetadata, current_versions
from ._models import available_models, build_model, metadata_for
from ._reading import Reading, read_digits

__all__ = ["DigitClassifier"]

_BACKENDS: tuple[BackendName, ...] = ("dynamic", "static")

WEIGHTS_DIR = Path(__file__).parent / "weights"
PRETRAINED = {"best": "mnistcnn_best"}
"""Shipped models: name -> file prefix in the package's ``weights`` folder."""


class DigitClassifier:
    """Recognise handwritten digits with a trained network.

    Follows scikit-learn's classifier contract: :meth:`predict` gives labels of shape (n,),
    :meth:`predict_proba` rows of shape (n, 10) that sum to 1, and :attr:`classes_` names the
    columns. Build one around an in-memory network with ``DigitClassifier(model)``, or load
    saved files, dynamic or static alike, with :meth:`load`.

    Args:
        model: a network mapping float32 (n, 1, 28, 28) in [0, 1] to (n, 10) logits (or
            probabilities, if its last layer is ``Softmax``).

    Examples:
        >>> import numpy as np
        >>> from mnistcnn import DigitClassifier, build_model
        >>> classifier = DigitClassifier(build_model("tutorial", seed=0))
        >>> classifier.predict_proba(np.zeros((3, 28, 28), np.uint8)).shape
        (3, 10)
    """

    classes_: np.ndarray = np.arange(10, dtype=np.int64)
    """The digit each column of :meth:`predict_proba` stands for."""

    def __init__(self, model: nn.Layer) -> None:
        if not isinstance(model, nn.Layer):
            raise TypeError(
                f"DigitClassifier(model) takes a paddle.nn.Layer; got {type(model).__name__}. "
                "Use DigitClassifier.load(path) for saved files."
            )
        self._backend: Backend = DynamicBackend(model)
        self._metadata = metadata_for(model)
        self._source: Path | None = None

    @classmethod
    def _from_backend(
        cls, backend: Backend, metadata: ModelMetadata, source: Path
    ) -> DigitClassifier:
        classifier = cls.__new__(cls)
        classifier._backend = backend
        classifier._metadata = metadata
        classifier._source = source
        return classifier

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: Literal["dynamic", "static"] | None = None,
        architecture: str | None = None,
        num_threads: int | None = None,
    ) -> DigitClassifier:
        """Load a saved model, whichever files it was saved as.

        Args:
            path: the path prefix, or any of the model's files (``m.pdparams``, ``m.json``,
                ``m.pdmodel``, ``m.pdiparams``, ``m_meta.json``).
            backend: ``None`` picks the static model when it is there (the Paddle Inference
                predictor, several times faster on CPU), else the dynamic one;
                ``"dynamic"`` or ``"static"`` forces one.
            architecture: the :func:`build_model` name for a ``.pdparams`` file saved without
                metadata (default ``"tutorial"``, the network of Paddle's MNIST tutorial).
            num_threads: CPU threads for the static backend (default: all available).

        Raises:
            ModelNotFoundError: no model files at ``path``.
            ModelFormatError: the files are not usable (wrong architecture, files that do not
                match their metadata, ...).
            ValueError: ``backend`` is not one of the allowed values.
        """
        if backend is not None and backend not in _BACKENDS:
            raise ValueError(f"backend must be None or one of {list(_BACKENDS)}; got {backend!r}.")
        files = ModelFiles.find(prefix_of(path))
        metadata = ModelMetadata.read(files.meta) if files.meta is not None else None
        program = _static_program(files, metadata)
        params = files.params
        weights = files.dynamic
        if weights is not None and metadata is not None and DYNAMIC not in metadata.files:
            weights = None  # left over from an earlier save: the metadata lists no .pdparams
        chosen = backend or ("static" if program is not None and params is not None else "dynamic")
        if chosen == "static" and program is not None and params is not None:
            if metadata is not None:
                _check_digests(metadata, files.prefix, (program, params))
            try:
                static = StaticBackend(program, params, num_threads=num_threads)
            except (ValueError, RuntimeError, OSError) as exc:  # Paddle's errors when it cannot
                written_by = metadata.versions.get("paddle", "?") if metadata else "?"
                running = current_versions()["paddle"]
                message = (
                    f"{program}: Paddle {running} cannot run this static model "
                    f"(written by Paddle {written_by}): {str(exc).splitlines()[0]}. "
                    "Upgrade paddlepaddle, or load the .pdparams file (backend='dynamic')."
                )
                if backend == "static" or weights is None:
                    raise ModelFormatError(message) from exc
                warnings.warn(message + " Using the dynamic model instead.", stacklevel=2)
                chosen = "dynamic"
            else:
                metadata = metadata or ModelMetadata(
                    architecture=None, output=_probe_output(static)
                )
                return cls._from_backend(static, metadata, program)
        if chosen == "dynamic" and weights is not None:
            if metadata is not None:
                _check_digests(metadata, files.prefix, (weights,))
                if architecture and metadata.architecture not in (None, architecture):
                    raise ModelFormatError(
                        f"{weights}: saved as architecture {metadata.architecture!r}, but "
                        f"architecture={architecture!r} was asked for. Leave architecture unset."
                    )
            name = architecture or (metadata.architecture if metadata else None) or "tutorial"
            layer = _load_layer(weights, name)
            metadata = metadata or ModelMetadata(architecture=name, output="logits")
            return cls._from_backend(DynamicBackend(layer), metadata, weights)
        raise ModelNotFoundError(_not_found_message(files, backend))

    @classmethod
    def pretrained(
        cls,
        name: str = "best",
        *,
        backend: Literal["dynamic", "static"] | None = None,
        num_threads: int | None = None,
    ) -> DigitClassifier:
        """The model whose weights ship inside the package; no network access is needed.

        Args:
            name: one of :data:`PRETRAINED` (``"best"``: the ``best`` recipe, about 99.6% on
                the MNIST test set; see the model card in the documentation).
            backend: as for :meth:`load` (default: the static model, the faster one).
            num_threads: CPU threads for the static backend (default: all available).

        Raises:
            ValueError: ``name`` is not a shipped model.

        Examples:
            >>> classifier = DigitClassifier.pretrained()
            >>> classifier.metadata.architecture, classifier.backend
            ('best', 'static')
        """
        if name not in PRETRAINED:
            raise ValueError(
                f"no pretrained model {name!r}; available: {', '.join(sorted(PRETRAINED))}."
            )
        return cls.load(WEIGHTS_DIR / PRETRAINED[name], backend=backend, num_threads=num_threads)

    @property
    def backend(self) -> BackendName:
        """``"dynamic"`` (a Paddle layer) or ``"static"`` (the Paddle Inference predictor)."""
        return self._backend.name

    @property
    def metadata(self) -> ModelMetadata:
        """What the model is and the input it expects."""
        return self._metadata

    @property
    def network(self) -> nn.Layer | None:
        """The :class:`paddle.nn.Layer` of a dynamic model; ``None`` for a static one."""
        return self._backend.layer if isinstance(self._backend, DynamicBackend) else None

    def predict_proba(
        self, images: Images, *, batch_size: int = 64, preprocess: Preprocess = "auto"
    ) -> np.ndarray:
        """Probability of each digit for each image.

        Args:
            images: one image or many. Arrays: (28, 28), (n, 28, 28) or (n, 1, 28, 28)
                MNIST digits (uint8 in [0, 255] or floats in [0, 1], light ink on black),
                pictures of any other size, grey (H, W) or colour (H, W, 3|4), and stacks of
                them (n, H, W), (n, 1, H, W), (n, H, W, 3|4); memory-mapped and read-only
                arrays alike. Also PIL images, file paths, encoded bytes (``bytes``,
                ``bytearray``, ``memoryview``) and binary file objects, and a list, tuple,
                iterator or generator of any of these. ``images`` is never modified.
            batch_size: images per network call; arrays and iterators are read this many
                images at a time, so memory does not grow with their length.
            preprocess: ``"auto"`` takes input already in MNIST's form as it is and
                normalises everything else (see :meth:`preprocess`); ``"normalize"``
                normalises every image; ``"raw"`` takes every image as it is (only made grey
                and 28x28).

        Returns:
            float32 array of shape (n_images, 10) whose rows sum to 1; column ``j`` is the
            probability of digit ``classes_[j]``.

        Raises:
            ImageTypeError: an input of a type no image can be read from (an ``int``, a
                ``dict``, an array of strings); also a :class:`TypeError`.
            ImageNotFoundError: a path to no file; also a :class:`FileNotFoundError`.
            ImageError: an image that cannot be read or used (damaged file, blank picture,
                pixel values out of range, a shape that holds no image). The message names
                the item (``images[3]``) and file. Also a :class:`ValueError`.
        """
        count, batches = model_batches(
            images,
            batch_size=batch_size,
            value_range=self._metadata.value_range,
            preprocess=preprocess,
        )
        if count is None:  # an iterator: only the results are kept, never its images
            parts = [self._probabilities(batch) for batch in batches]
            if not parts:
                return np.empty((0, len(self.classes_)), dtype=np.float32)
            return np.concatenate(parts)
        result = np.empty((count, len(self.classes_)), dtype=np.float32)
        done = 0
        for batch in batches:
            result[done : done + len(batch)] = self._probabilities(batch)
            done += len(batch)
        return result

    def _probabilities(self, batch: np.ndarray) -> np.ndarray:
        output = self._backend.run(batch)
        return _softmax(output) if self._metadata.output == "logits" else output

    def predict(
        self, images: Images, *, batch_size: int = 64, preprocess: Preprocess = "auto"
    ) -> np.ndarray:
        """The most probable digit for each image.

        Args:
            images: as for :meth:`predict_proba`.
            batch_size: images per network call.
            preprocess: as for :meth:`predict_proba`.

        Returns:
            int64 array of shape (n_images,).
        """
        probabilities = self.predict_proba(images, batch_size=batch_size, preprocess=preprocess)
        labels: np.ndarray = self.classes_[probabilities.argmax(axis=1)]
        return labels

    @staticmethod
    def preprocess(image: PictureInput, *, preprocess: Preprocess = "auto") -> np.ndarray:
        """The 28x28 picture the network sees for ``image``, to check why a prediction went wrong.

        A picture of one digit (any size, mode, polarity or lighting) is normalised as MNIST
        was made: background and noise removed, the ink cropped, fitted into 20x20 with its
        aspect ratio kept and centred by its centre of mass in 28x28.

        Args:
            image: one picture in any form :meth:`predict_proba` takes (an array, a PIL
                image, a file path, bytes or a binary file object).
            preprocess: as for :meth:`predict_proba`.

        Returns:
            uint8 array of shape (28, 28), light ink on black.

        Raises:
            ImageError: the picture cannot be read or holds no ink (and its subclasses, as
                for :meth:`predict_proba`).
        """
        check_options(batch_size=1, preprocess=preprocess)
        unit = picture_unit(image, preprocess)
        pixels: np.ndarray = np.round(unit * 255).astype(np.uint8)
        return pixels

    def read_digits(
        self,
        image: PictureInput,
        *,
        min_confidence: float = 0.5,
    ) -> Reading:
        """Read a number written as several digits (a postal code, say), left to right.

        Digits broken into pieces, touching digits, specks, dots and dashes, slant and an
        uneven baseline are handled. A digit read with a probability below ``min_confidence``
        is shown as ``?`` in ``text`` (its best guess stays in ``digits``).

        Args:
            image: one picture in any form :meth:`preprocess` takes.
            min_confidence: the probability a digit needs to count as read.

        Returns:
            A :class:`Reading`: ``text`` such as ``"100084"`` and, per digit, label,
            probability and bounding box.

        Raises:
            ImageError: the picture cannot be read, or holds no ink.
        """
        return read_digits(self, image, min_confidence=min_confidence)

    def __repr__(self) -> str:
        source = f", source={str(self._source)!r}" if self._source else ""
        return (
            f"DigitClassifier(backend={self.backend!r}, "
            f"architecture={self._metadata.architecture!r}{source})"
        )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return result


def _static_program(files: ModelFiles, metadata: ModelMetadata | None) -> Path | None:
    """The static program file, preferring the one the metadata describes."""
    if metadata is None:
        return files.program
    for suffix in STATIC_PROGRAMS:
        if suffix in metadata.files and STATIC_PARAMS in metadata.files:
            candidate = files.prefix.with_name(files.prefix.name + suffix)
            return candidate if candidate.is_file() else None
    return None


def _check_digests(metadata: ModelMetadata, prefix: Path, paths: tuple[Path, ...]) -> None:
    for path in paths:
        suffix = path.name[len(prefix.name) :]
        expected = metadata.files.get(suffix)
        if expected is not None and file_sha256(path) != expected:
            raise ModelFormatError(
                f"{path} does not match its metadata (the SHA-256 differs): it was changed or "
                "replaced after saving, or a save was interrupted. Save the model again."
            )


def _load_layer(path: Path, architecture: str) -> nn.Layer:
    if architecture not in available_models():
        raise ModelFormatError(
            f"{path}: unknown architecture {architecture!r}; available: "
            f"{', '.join(available_models())}."
        )
    try:
        state = paddle.load(str(path))
    except Exception as exc:  # paddle raises many types for a damaged file
        raise ModelFormatError(f"{path}: not a readable Paddle weights file ({exc}).") from exc
    if not isinstance(state, dict):
        raise ModelFormatError(f"{path}: holds a {type(state).__name__}, not a state dict.")
    layer = build_model(architecture)
    expected = {name: list(value.shape) for name, value in layer.state_dict().items()}
    found = {name: list(np.shape(value)) for name, value in state.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        shapes = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
        raise ModelFormatError(
            f"{path}: the weights do not fit architecture {architecture!r} "
            f"(missing: {missing or 'none'}; unexpected: {extra or 'none'}; "
            f"wrong shape: {shapes or 'none'}). Pass the right architecture=."
        )
    layer.set_state_dict(state)
    layer.eval()
    return layer


def _probe_output(backend: StaticBackend) -> Literal["logits", "probabilities"]:
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
    wanted = {
        "dynamic": f"{prefix}.pdparams",
        "static": f"{prefix}.json (or .pdmodel) with {prefix}.pdiparams",
        None: f"{prefix}.pdparams, or {prefix}.json (or .pdmodel) with {prefix}.pdiparams",
    }[backend]
    message = f"no {backend + ' ' if backend else ''}model found: expected {wanted}."
    if files.meta is not None:
        message += (
            f" {files.meta} lists only: {', '.join(sorted(ModelMetadata.read(files.meta).files))}."
        )
    return message
