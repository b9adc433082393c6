"""mnistcnn: handwritten digit recognition with a convolutional network on PaddlePaddle.

Everything public is importable from here::

    from mnistcnn import DigitClassifier, build_model, evaluate, load_data, save, train

Names are imported on first use, so ``import mnistcnn`` is instant and a process that only
predicts never imports the training code.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

from ._quiet import quiet_paddle_import
from ._version import __version__ as __version__

_HOME: dict[str, str] = {
    "Augmentation": "_data._augment",
    "CheckpointError": "_errors",
    "DatasetCorruptError": "_errors",
    "DatasetNotFoundError": "_errors",
    "DigitClassifier": "_inference._classifier",
    "EpochResult": "_formats._history",
    "EvalReport": "_inference._evaluation",
    "FilePrediction": "_inference._streaming",
    "FileReading": "_inference._streaming",
    "History": "_formats._history",
    "ImageError": "_errors",
    "ImageNotFoundError": "_errors",
    "ImageTypeError": "_errors",
    "InconsistentVersionWarning": "_errors",
    "MissingDependencyError": "_errors",
    "MnistCnnError": "_errors",
    "MnistCnnWarning": "_errors",
    "MnistDataset": "_data._mnist",
    "ModelExistsError": "_errors",
    "ModelFormatError": "_errors",
    "ModelMetadata": "_formats._metadata",
    "ModelNotFoundError": "_errors",
    "PrintedBox": "_reading._numbers",
    "ReadDigit": "_reading._numbers",
    "Reading": "_reading._numbers",
    "Recipe": "_formats._history",
    "ResultsFile": "_inference._results",
    "ResultsFileError": "_errors",
    "WorkerError": "_errors",
    "available_models": "_models._architectures",
    "available_recipes": "_training._recipes",
    "build_model": "_models._architectures",
    "create_app": "_serving._app",
    "default_cache_dir": "_data._mnist",
    "evaluate": "_inference._evaluation",
    "find_images": "_inference._streaming",
    "get_recipe": "_training._recipes",
    "load_data": "_data._mnist",
    "draw_reading": "_reading._overlay",
    "plot_confusion_matrix": "_plotting._figures",
    "plot_digits": "_plotting._figures",
    "plot_history": "_plotting._figures",
    "plot_model_view": "_plotting._figures",
    "predict_files_on_cluster": "_scale._cluster",
    "save": "_formats._saving",
    "serve": "_serving._app",
    "to_model_input": "_input._preprocess",
    "train": "_training._train",
}
"""The public names and the private module each lives in: the one list of them. (The
``TYPE_CHECKING`` imports below repeat it for type checkers and IDEs, which cannot follow a
lazy import; tests/test_public_api.py checks that the two agree.)"""

__all__ = sorted([*_HOME, "__version__"])

if TYPE_CHECKING:  # explicit re-exports ("X as X") for type checkers
    from ._data._augment import Augmentation as Augmentation
    from ._data._mnist import MnistDataset as MnistDataset
    from ._data._mnist import default_cache_dir as default_cache_dir
    from ._data._mnist import load_data as load_data
    from ._errors import CheckpointError as CheckpointError
    from ._errors import DatasetCorruptError as DatasetCorruptError
    from ._errors import DatasetNotFoundError as DatasetNotFoundError
    from ._errors import ImageError as ImageError
    from ._errors import ImageNotFoundError as ImageNotFoundError
    from ._errors import ImageTypeError as ImageTypeError
    from ._errors import InconsistentVersionWarning as InconsistentVersionWarning
    from ._errors import MissingDependencyError as MissingDependencyError
    from ._errors import MnistCnnError as MnistCnnError
    from ._errors import MnistCnnWarning as MnistCnnWarning
    from ._errors import ModelExistsError as ModelExistsError
    from ._errors import ModelFormatError as ModelFormatError
    from ._errors import ModelNotFoundError as ModelNotFoundError
    from ._errors import ResultsFileError as ResultsFileError
    from ._errors import WorkerError as WorkerError
    from ._formats._history import EpochResult as EpochResult
    from ._formats._history import History as History
    from ._formats._history import Recipe as Recipe
    from ._formats._metadata import ModelMetadata as ModelMetadata
    from ._formats._saving import save as save
    from ._inference._classifier import DigitClassifier as DigitClassifier
    from ._inference._evaluation import EvalReport as EvalReport
    from ._inference._evaluation import evaluate as evaluate
    from ._inference._results import ResultsFile as ResultsFile
    from ._inference._streaming import FilePrediction as FilePrediction
    from ._inference._streaming import FileReading as FileReading
    from ._inference._streaming import find_images as find_images
    from ._input._preprocess import to_model_input as to_model_input
    from ._models._architectures import available_models as available_models
    from ._models._architectures import build_model as build_model
    from ._plotting._figures import plot_confusion_matrix as plot_confusion_matrix
    from ._plotting._figures import plot_digits as plot_digits
    from ._plotting._figures import plot_history as plot_history
    from ._plotting._figures import plot_model_view as plot_model_view
    from ._reading._numbers import PrintedBox as PrintedBox
    from ._reading._numbers import ReadDigit as ReadDigit
    from ._reading._numbers import Reading as Reading
    from ._reading._overlay import draw_reading as draw_reading
    from ._scale._cluster import predict_files_on_cluster as predict_files_on_cluster
    from ._serving._app import create_app as create_app
    from ._serving._app import serve as serve
    from ._training._recipes import available_recipes as available_recipes
    from ._training._recipes import get_recipe as get_recipe
    from ._training._train import train as train


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'mnistcnn' has no attribute {name!r}")
    with quiet_paddle_import():  # most modules import Paddle
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    if _report_as_public(value):
        value.__module__ = __name__
    globals()[name] = value
    return value


def _report_as_public(value: object) -> bool:
    """Whether ``value`` should say it is ``mnistcnn.NAME``, as tracebacks and reprs then show
    it: classes, such as the errors. Functions show no module in their repr, and both they and
    dataclasses keep theirs, in which ``typing.get_type_hints`` (and the docs) resolve their
    annotations: this package's namespace fills in lazily."""
    module = getattr(value, "__module__", None)
    if not isinstance(module, str) or not module.startswith(f"{__name__}._"):
        return False
    return isinstance(value, type) and not dataclasses.is_dataclass(value)


def __dir__() -> list[str]:
    """The public names: what ``dir(mnistcnn)`` and tab completion show (not the modules and
    helpers this file imports, nor the private stages)."""
    return list(__all__)
