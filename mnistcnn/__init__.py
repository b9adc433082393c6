"""mnistcnn: handwritten digit recognition with a convolutional network on PaddlePaddle.

Everything public is importable from here::

    from mnistcnn import DigitClassifier, build_model, evaluate, load_data, save, train

Names are imported on first use, so ``import mnistcnn`` is instant and a process that only
predicts never imports the training code.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._augment import Augmentation
    from ._classifier import DigitClassifier
    from ._data import MnistDataset, default_cache_dir, load_data
    from ._errors import (
        DatasetCorruptError,
        DatasetNotFoundError,
        ImageError,
        MissingDependencyError,
        MnistCnnError,
        ModelFormatError,
        ModelNotFoundError,
    )
    from ._evaluation import EvalReport, evaluate
    from ._figures import plot_confusion_matrix, plot_digits, plot_history, plot_model_view
    from ._history import EpochResult, History
    from ._metadata import ModelMetadata
    from ._models import available_models, build_model
    from ._preprocess import to_model_input
    from ._reading import ReadDigit, Reading
    from ._recipes import Recipe, available_recipes, get_recipe
    from ._saving import save
    from ._training import train

__all__ = [
    "Augmentation",
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "DigitClassifier",
    "EpochResult",
    "EvalReport",
    "History",
    "ImageError",
    "MissingDependencyError",
    "MnistCnnError",
    "MnistDataset",
    "ModelFormatError",
    "ModelMetadata",
    "ModelNotFoundError",
    "ReadDigit",
    "Reading",
    "Recipe",
    "__version__",
    "available_models",
    "available_recipes",
    "build_model",
    "default_cache_dir",
    "evaluate",
    "get_recipe",
    "load_data",
    "plot_confusion_matrix",
    "plot_digits",
    "plot_history",
    "plot_model_view",
    "save",
    "to_model_input",
    "train",
]

_HOME = {
    "Augmentation": "_augment",
    "DatasetCorruptError": "_errors",
    "DatasetNotFoundError": "_errors",
    "DigitClassifier": "_classifier",
    "EpochResult": "_history",
    "EvalReport": "_evaluation",
    "History": "_history",
    "ImageError": "_errors",
    "MissingDependencyError": "_errors",
    "MnistCnnError": "_errors",
    "MnistDataset": "_data",
    "ModelFormatError": "_errors",
    "ModelMetadata": "_metadata",
    "ModelNotFoundError": "_errors",
    "ReadDigit": "_reading",
    "Reading": "_reading",
    "Recipe": "_recipes",
    "available_models": "_models",
    "available_recipes": "_recipes",
    "build_model": "_models",
    "default_cache_dir": "_data",
    "evaluate": "_evaluation",
    "get_recipe": "_recipes",
    "load_data": "_data",
    "plot_confusion_matrix": "_figures",
    "plot_digits": "_figures",
    "plot_history": "_figures",
    "plot_model_view": "_figures",
    "save": "_saving",
    "to_model_input": "_preprocess",
    "train": "_training",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'mnistcnn' has no attribute {name!r}")
    # `import paddle` configures the root logger (level INFO and a stderr handler, through
    # paddle.distributed.utils.log_utils.get_logger, whose default logger name is "root"), after
    # which every library's INFO messages print. The root logger belongs to the application:
    # put it back as it was.
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
