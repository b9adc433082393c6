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
    "MissingDependencyError",
    "MnistCnnError",
    "ModelFormatError",
    "ModelNotFoundError",
]


class MnistCnnError(Exception):
    """Base class of every error raised by mnistcnn."""


class DatasetNotFoundError(MnistCnnError, FileNotFoundError):
    """The MNIST files are in none of the searched directories and could not be downloaded."""


class DatasetCorruptError(MnistCnnError, ValueError):
    """A dataset file exists but is truncated, malformed or not the published file."""


class ModelNotFoundError(MnistCnnError, FileNotFoundError):
    """No saved model files were found at the given path."""


class ModelFormatError(MnistCnnError, ValueError):
    """Saved model files exist but cannot be used (wrong architecture, mismatched files, ...)."""


class ImageError(MnistCnnError, ValueError):
    """An image cannot be read or turned into a model input."""


class MissingDependencyError(MnistCnnError, ImportError):
    """An optional dependency a feature needs is not installed; the message names the extra."""


class CheckpointError(MnistCnnError, ValueError):
    """A training checkpoint cannot be resumed: written by another configuration, or damaged."""
