"""The exceptions mnistcnn raises.

Every error is an :class:`MnistCnnError` and also the built-in exception that fits, so callers can
catch either ``mnistcnn.DatasetNotFoundError`` or plain ``FileNotFoundError``.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "ImageError",
    "ImageNotFoundError",
    "ImageTypeError",
    "InconsistentVersionWarning",
    "MissingDependencyError",
    "MnistCnnError",
    "MnistCnnWarning",
    "ModelExistsError",
    "ModelFormatError",
    "ModelNotFoundError",
    "ResultsFileError",
    "WorkerError",
]


class MnistCnnError(Exception):
    """Base class of every error raised by mnistcnn."""


class DatasetNotFoundError(MnistCnnError, FileNotFoundError):
    """The MNIST files are in none of the searched directories and could not be downloaded."""


class DatasetCorruptError(MnistCnnError, ValueError):
    """A dataset file exists but is truncated, malformed or not the published file."""


class ModelNotFoundError(MnistCnnError, FileNotFoundError):
    """No saved model files were found at the given path."""


class ModelExistsError(MnistCnnError, FileExistsError):
    """A save would remove the files of another model in formats it does not write; pass
    ``replace=True`` (``--replace``) to allow it."""


class ModelFormatError(MnistCnnError, ValueError):
    """Saved model files exist but cannot be used (wrong architecture, mismatched files, ...)."""


class ResultsFileError(MnistCnnError, ValueError):
    """An output that cannot be resumed: another kind of results, or not a results file."""


class ImageError(MnistCnnError, ValueError):
    """An image cannot be read or turned into a model input."""


class ImageTypeError(ImageError, TypeError):
    """An input is of a type no image can be read from (an int, a dict, an array of strings)."""


class ImageNotFoundError(ImageError, FileNotFoundError):
    """An image file does not exist."""


class MissingDependencyError(MnistCnnError, ImportError):
    """An optional dependency a feature needs is not installed; the message names the extra."""


class CheckpointError(MnistCnnError, ValueError):
    """A training checkpoint cannot be resumed: written by another configuration, or damaged."""


class WorkerError(MnistCnnError, RuntimeError):
    """A process of a data-parallel training run (``train(..., procs=N)``) failed."""


class MnistCnnWarning(UserWarning):
    """Base class of every warning issued by mnistcnn."""


class InconsistentVersionWarning(MnistCnnWarning):
    """A model was saved by another major version of mnistcnn or Paddle than the one loading it.

    Attributes:
        package: ``"mnistcnn"`` or ``"paddle"``.
        saved_version: the version that wrote the files.
        current_version: the version loading them.
    """

    def __init__(
        self, message: str, *, package: str, saved_version: str, current_version: str
    ) -> None:
        super().__init__(message)
        self.package = package
        self.saved_version = saved_version
        self.current_version = current_version


# Tracebacks say mnistcnn.ImageError, where users catch it, even before the public name is used.
for _name in __all__:
    globals()[_name].__module__ = "mnistcnn"
del _name
