"""``DigitClassifier``: one interface over dynamic (``.pdparams``), static and ONNX models."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._choices import BackendName, Preprocess, ReadMethod
from .._engines._base import Backend
from .._formats._loading import open_model
from .._formats._metadata import ModelMetadata, metadata_for
from .._input._inputs import Images, PictureInput, check_options, model_batches, picture_unit
from .._models._kinds import LINE_ARCHITECTURES
from .._models._weights import PRETRAINED, WEIGHTS_DIR
from .._reading._numbers import Reading, read_digits
from ._streaming import FilePrediction, FileReading, predict_files, read_files

if TYPE_CHECKING:
    from paddle import nn

__all__ = ["DigitClassifier"]


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

    def __init__(self, model: nn.Layer) -> None:
        from paddle import nn

        from .._engines._dynamic import DynamicBackend

        if not isinstance(model, nn.Layer):
            raise TypeError(
                f"DigitClassifier(model) takes a paddle.nn.Layer; got {type(model).__name__}. "
                "Use DigitClassifier.load(path) for saved files."
            )
        _refuse_line_reader(metadata_for(model).architecture)
        self._backend: Backend = DynamicBackend(model)
        self._metadata = metadata_for(model)
        self._classes = _read_only_classes(self._metadata)
        self._columns_are_digits = self._metadata.classes == _COLUMNS
        self._source: Path | None = None

    @classmethod
    def _from_backend(
        cls, backend: Backend, metadata: ModelMetadata, source: Path
    ) -> DigitClassifier:
        _refuse_line_reader(metadata.architecture)
        classifier = cls.__new__(cls)
        classifier._backend = backend
        classifier._metadata = metadata
        classifier._classes = _read_only_classes(metadata)
        classifier._columns_are_digits = metadata.classes == _COLUMNS
        classifier._source = source
        return classifier

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: BackendName | None = None,
        architecture: str | None = None,
        num_threads: int | None = None,
    ) -> DigitClassifier:
        """Load a saved model, whichever files it was saved as.

        Args:
            path: the path prefix, or any of the model's files (``m.safetensors``,
                ``m.pdparams``, ``m.json``, ``m.pdmodel``, ``m.pdiparams``, ``m.onnx``,
                ``m_meta.json``).
            backend: the engine. ``None`` picks the fastest one there are files and an
                installed package for: ``"onnxruntime"`` (``m.onnx`` run by ONNX Runtime,
                the ``onnx`` extra), then ``"static"`` (the Paddle Inference predictor on
                ``m.json`` + ``m.pdiparams``), then ``"dynamic"`` (the network rebuilt from
                ``m.safetensors``, else ``m.pdparams``). Naming one forces it.
            architecture: the :func:`build_model` name for weights saved without metadata
                (default ``"tutorial"``, the network of Paddle's MNIST tutorial).
            num_threads: CPU threads the engine computes with (default: all available for
                ``"static"`` and ``"onnxruntime"``; for ``"dynamic"``, Paddle's
                process-wide setting, left as it is unless given).

        Weights files are checked against the SHA-256 in the metadata and parsed without
        running code: ``.pdparams`` (a pickle) through an unpickler that rebuilds only arrays
        and plain containers, so a crafted file is refused before any of its code runs. A save
        that a crash interrupted after its commit point is completed first.

        Raises:
            ModelNotFoundError: no model files at ``path`` (for ``backend``, if given).
            ModelFormatError: the files are not usable (wrong architecture, files that do not
                match their metadata, a pickle that asks for anything but arrays, ...).
            MissingDependencyError: ``backend="onnxruntime"`` without ONNX Runtime installed
                (``pip install "mnistcnn[onnx]"``).
            ValueError: ``backend`` is not one of the allowed values.

        Warns:
            InconsistentVersionWarning: the files were written by another major version of
                mnistcnn or Paddle.
            MnistCnnWarning: the training record in the metadata cannot be read; the model
                loads without it (``metadata.history`` is ``None``).
        """
        loaded = open_model(
            path, backend=backend, architecture=architecture, num_threads=num_threads
        )
        return cls._from_backend(loaded.backend, loaded.metadata, loaded.source)

    @classmethod
    def pretrained(
        cls,
        name: str = "best",
        *,
        backend: BackendName | None = None,
        num_threads: int | None = None,
    ) -> DigitClassifier:
        """The model whose weights ship inside the package; no network access is needed.

        Args:
            name: one of :data:`PRETRAINED` (``"best"``: the ``best`` recipe, 99.69% on
                the MNIST test set; see the model card in the documentation).
            backend: as for :meth:`load` (default: the fastest engine installed; the model
                ships as ``.onnx``, a static model and safetensors weights).
            num_threads: as for :meth:`load`.

        Raises:
            ValueError: ``name`` is not a shipped model.

        Examples:
            >>> classifier = DigitClassifier.pretrained(backend="static")
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
        """The engine: ``"dynamic"`` (a Paddle layer), ``"static"`` (the Paddle Inference
        predictor) or ``"onnxruntime"``."""
        return self._backend.name

    @property
    def num_threads(self) -> int | None:
        """CPU threads the engine computes with (``None``: a dynamic model left on Paddle's
        process-wide setting)."""
        return self._backend.num_threads

    @property
    def classes_(self) -> np.ndarray:
        """The digit each column of :meth:`predict_proba` stands for, from the model's metadata:
        a read-only int64 array of shape (10,), this classifier's own."""
        return self._classes

    @property
    def metadata(self) -> ModelMetadata:
        """What the model is and the input it expects."""
        return self._metadata

    @property
    def network(self) -> nn.Layer | None:
        """The :class:`paddle.nn.Layer` of a dynamic model; ``None`` for a static or ONNX one."""
        layer: nn.Layer | None = getattr(self._backend, "layer", None)
        return layer

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
        row = ((len(self.classes_),), np.float32)
        return self._per_batch(images, batch_size, preprocess, self._probabilities, row)

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
        return self._per_batch(images, batch_size, preprocess, self._labels, ((), np.int64))

    def predict_files(
        self,
        files: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int = 64,
        preprocess: Preprocess = "auto",
        threads: int = 1,
    ) -> Iterator[FilePrediction]:
        """Recognise the digit in each of very many files, one result per file, in order.

        The files are read lazily and ``batch_size`` at a time, so an iterator of any length,
        such as :func:`find_images` over a directory tree, runs in constant memory. A file
        that cannot be read (missing, damaged, blank) gives a result with ``error`` set and
        the files after it are still read, unlike :meth:`predict_proba`, which raises.

        Args:
            files: paths to picture files, as a list or any iterable.
            batch_size: files per network call.
            preprocess: as for :meth:`predict_proba`.
            threads: threads reading and normalising pictures. One is fastest for files on a
                local disk (normalising is Python code that holds the interpreter); more read
                the next batch while the network runs, which pays off on a slow or network
                file system. Memory stays bounded either way (two batches at most).

        Returns:
            An iterator of one :class:`FilePrediction` per file, in the order of ``files``;
            their ``probabilities`` equal :meth:`predict_proba`'s rows for the same files.

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from PIL import Image, ImageDraw
            >>> from mnistcnn import find_images
            >>> folder = Path(tempfile.mkdtemp())
            >>> page = Image.new("L", (60, 80), 255)
            >>> ImageDraw.Draw(page).line([(30, 10), (30, 70)], fill=0, width=6)
            >>> page.save(folder / "one.png")
            >>> _ = (folder / "two.png").write_bytes(b"not a picture")
            >>> for result in DigitClassifier.pretrained().predict_files(find_images(folder)):
            ...     print(Path(result.file).name, result.label if result.ok else "error")
            one.png 1
            two.png error
        """
        return predict_files(
            self, files, batch_size=batch_size, preprocess=preprocess, threads=threads
        )

    def _per_batch(
        self,
        images: Images,
        batch_size: int,
        preprocess: Preprocess,
        compute: Callable[[np.ndarray], np.ndarray],
        row: tuple[tuple[int, ...], type[np.generic]],
    ) -> np.ndarray:
        """``compute`` applied to each model batch of ``images``, the results in one array;
        ``row`` is the shape and dtype of one image's result."""
        count, batches = model_batches(
            images,
            batch_size=batch_size,
            value_range=self._metadata.value_range,
            preprocess=preprocess,
        )
        if count == 1:  # one image (the latency of this path matters): its batch's result
            return compute(next(batches))
        shape, dtype = row
        if count is None:  # an iterator: only the results are kept, never its images
            parts = [compute(batch) for batch in batches]
            return np.concatenate(parts) if parts else np.empty((0, *shape), dtype=dtype)
        result = np.empty((count, *shape), dtype=dtype)
        done = 0
        for batch in batches:
            result[done : done + len(batch)] = compute(batch)
            done += len(batch)
        return result

    def _probabilities(self, batch: np.ndarray) -> np.ndarray:
        output = self._backend.run(batch)
        if self._metadata.output == "logits":
            return _softmax(output)
        probabilities: np.ndarray = output.astype(np.float32, copy=False)
        return probabilities

    def _labels(self, batch: np.ndarray) -> np.ndarray:
        # Softmax keeps the order of a row, so the largest raw output is the most probable
        # digit: no probabilities are computed to find it.
        best: np.ndarray = self._backend.run(batch).argmax(axis=1)
        if self._columns_are_digits and best.dtype == np.int64:
            return best  # column j is digit j: the index is the label
        labels: np.ndarray = self._classes[best]
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
        method: ReadMethod = "auto",
    ) -> Reading:
        """Read a number written as several digits (a postal code, say), left to right.

        Digits apart or touching and overlapping their neighbours, broken into pieces,
        slanted, on an uneven baseline, among specks, dots and dashes are read. On a form or
        an envelope with boxes printed in red or green, the print is told from blue or black
        ink by its colour and removed (boxes and rules printed in the ink's own colour are
        found from their geometry), and each box is read as one digit or reported empty.

        Where digits touch, the line is read by a sequence reader (a CTC network shipped
        with the package, trained on numbers composed from the MNIST training digits); digits
        apart and digits in printed boxes are read one by one by this classifier.

        Args:
            image: one picture in any form :meth:`preprocess` takes.
            min_confidence: the probability a digit needs for its ``confident`` flag.
            method: ``"auto"`` (the classifier for digits apart, the sequence reader for
                a line whose digits touch), ``"segments"`` (cut touching digits at the
                thinnest ink columns and classify each part: the 0.2 reading), or
                ``"sequence"`` (the sequence reader for every line).

        Returns:
            A :class:`Reading`: ``text``, the most likely number such as ``"100084"``; its
            ``probability``; per digit, label, probability and bounding box; and the
            printed boxes found, if any.

        Raises:
            ImageError: the picture cannot be read, or holds no ink.
            ValueError: ``min_confidence`` outside [0, 1] or an unknown ``method``.

        Examples:
            >>> from PIL import Image, ImageDraw
            >>> page = Image.new("L", (200, 80), 255)
            >>> ImageDraw.Draw(page).line([(40, 15), (40, 65)], fill=0, width=6)
            >>> ImageDraw.Draw(page).line([(120, 15), (120, 65)], fill=0, width=6)
            >>> DigitClassifier.pretrained().read_digits(page).text
            '11'
        """
        return read_digits(self, image, min_confidence=min_confidence, method=method)

    def read_files(
        self,
        files: Iterable[str | os.PathLike[str]],
        *,
        min_confidence: float = 0.5,
        method: ReadMethod = "auto",
    ) -> Iterator[FileReading]:
        """Read the number written in each of very many files, one result per file, in order.

        :meth:`read_digits` over files, as :meth:`predict_files` is :meth:`predict_proba`
        over files: the files are read lazily, one at a time, so an iterator of any length
        runs in constant memory, and a file that cannot be read (missing, damaged, no ink)
        gives a result with ``error`` set while the files after it are still read.

        Args:
            files: paths to picture files, as a list or any iterable (such as
                :func:`find_images`).
            min_confidence: as for :meth:`read_digits`.
            method: as for :meth:`read_digits`.

        Returns:
            An iterator of one :class:`FileReading` per file, in the order of ``files``.

        Raises:
            ValueError: ``min_confidence`` outside [0, 1] or an unknown ``method`` (at once,
                before any file is read).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from PIL import Image, ImageDraw
            >>> folder = Path(tempfile.mkdtemp())
            >>> page = Image.new("L", (200, 80), 255)
            >>> ImageDraw.Draw(page).line([(40, 15), (40, 65)], fill=0, width=6)
            >>> ImageDraw.Draw(page).line([(120, 15), (120, 65)], fill=0, width=6)
            >>> page.save(folder / "eleven.png")
            >>> files = [folder / "eleven.png", folder / "missing.png"]
            >>> for result in DigitClassifier.pretrained().read_files(files):
            ...     print(Path(result.file).name, result.reading.text if result.ok else "error")
            eleven.png 11
            missing.png error
        """
        return read_files(self, files, min_confidence=min_confidence, method=method)

    def __repr__(self) -> str:
        source = f", source={str(self._source)!r}" if self._source else ""
        return (
            f"DigitClassifier(backend={self.backend!r}, "
            f"architecture={self._metadata.architecture!r}{source})"
        )


_COLUMNS = tuple(range(10))


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, 10) float32 logits, as a new float32 array."""
    if len(logits) == 1:  # the same arithmetic; whole-array reductions are cheaper for one row
        exp = np.exp(logits - logits.max())
        exp /= exp.sum()
    else:
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        exp /= exp.sum(axis=1, keepdims=True)
    result: np.ndarray = exp.astype(np.float32, copy=False)
    return result


def _read_only_classes(metadata: ModelMetadata) -> np.ndarray:
    classes = np.array(metadata.classes, dtype=np.int64)
    classes.flags.writeable = False
    return classes


def _refuse_line_reader(architecture: str | None) -> None:
    if architecture in LINE_ARCHITECTURES:
        raise ValueError(
            f"the {architecture!r} network reads whole lines of digits; it is not a digit "
            "classifier. DigitClassifier.read_digits uses the shipped one; load a classifier "
            "(e.g. DigitClassifier.pretrained()) to read numbers."
        )
