from __future__ import annotations

import ast
import importlib
import logging
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import mnistcnn

from .conftest import run_python


def test_all_is_sorted_and_complete() -> None:
    assert mnistcnn.__all__ == sorted(mnistcnn.__all__)
    for name in mnistcnn.__all__:
        assert getattr(mnistcnn, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mnistcnn.nope  # noqa: B018


def test_the_public_names_are_listed_once_and_the_type_checking_imports_agree() -> None:
    tree = ast.parse(Path(mnistcnn.__file__).read_text(encoding="utf-8"))
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    modules = {
        alias.asname or alias.name: node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert set(modules) == set(mnistcnn._HOME)
    assert all(modules[name] == home for name, home in mnistcnn._HOME.items())
    assert mnistcnn.__all__ == sorted([*mnistcnn._HOME, "__version__"])
    for name, module in mnistcnn._HOME.items():
        value = getattr(mnistcnn, name)
        assert getattr(importlib.import_module(f"mnistcnn.{module}"), name) is value


def test_public_objects_say_they_are_mnistcnn() -> None:
    assert mnistcnn.ImageError.__module__ == "mnistcnn"
    assert repr(mnistcnn.ModelFormatError("x")) == "ModelFormatError('x')"
    assert mnistcnn.DigitClassifier.__module__ == "mnistcnn"
    assert (
        mnistcnn.save.__module__ == "mnistcnn._formats._saving"
    )  # functions keep theirs (see __init__)
    # Raised deep inside, before anyone touched the public name, it still says mnistcnn.
    code = (
        "from mnistcnn._errors import ImageError\n"
        "try:\n    raise ImageError('x')\n"
        "except ImageError as e:\n    print(type(e).__module__, type(e).__qualname__)"
    )
    assert run_python("-c", code).stdout.split() == ["mnistcnn", "ImageError"]
    # Dataclasses keep their module so that their annotations still resolve.
    assert typing.get_type_hints(mnistcnn.History)["epochs"] == tuple[mnistcnn.EpochResult, ...]


def test_errors_are_also_builtin_exceptions() -> None:
    assert issubclass(mnistcnn.DatasetNotFoundError, FileNotFoundError)
    assert issubclass(mnistcnn.ModelNotFoundError, FileNotFoundError)
    assert issubclass(mnistcnn.DatasetCorruptError, ValueError)
    assert issubclass(mnistcnn.ModelFormatError, ValueError)
    assert issubclass(mnistcnn.ImageError, ValueError)
    for name in ("DatasetNotFoundError", "DatasetCorruptError", "ModelFormatError", "ImageError"):
        assert issubclass(getattr(mnistcnn, name), mnistcnn.MnistCnnError)


def test_package_is_typed() -> None:
    assert (Path(mnistcnn.__file__).parent / "py.typed").is_file()


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    return set(result.stdout.split())


def test_import_does_no_work() -> None:
    modules = _modules_after("import mnistcnn")
    assert "paddle" not in modules and "numpy" not in modules


def test_prediction_does_not_import_training(saved_model: Path) -> None:
    modules = _modules_after(
        "import numpy as np\n"
        "from mnistcnn import DigitClassifier\n"
        f"DigitClassifier.load({str(saved_model)!r}).predict(np.zeros((2, 28, 28), np.uint8))"
    )
    assert "mnistcnn._inference._classifier" in modules
    assert "mnistcnn._training._loop" not in modules


def test_importing_paddle_through_mnistcnn_leaves_the_root_logger_alone() -> None:
    code = (
        "import logging, sys\n"
        "from mnistcnn import DigitClassifier\n"
        "DigitClassifier.pretrained().predict(__import__('numpy').zeros((28, 28), 'uint8'))\n"
        "root = logging.getLogger()\n"
        "print(root.level, len(root.handlers))\n"
        "logging.getLogger('some.library').info('an INFO message nobody asked for')\n"
    )
    result = run_python("-c", code)
    assert result.stdout.split() == [str(logging.WARNING), "0"]
    assert "nobody asked for" not in result.stderr


def test_importing_paddle_through_mnistcnn_is_quiet_and_leaves_warning_filters_alone() -> None:
    code = (
        "import warnings\n"
        "import numpy as np\n"
        "before = list(warnings.filters)\n"
        "from mnistcnn import DigitClassifier\n"
        "DigitClassifier.pretrained().predict(np.zeros((28, 28), np.uint8))\n"
        "print(warnings.filters == before)\n"
        "warnings.warn('a warning of the application')\n"
    )
    result = run_python("-W", "default", "-c", code)
    assert result.stdout.split() == ["True"]
    assert "ccache" not in result.stderr  # Paddle's import-time noise
    assert "a warning of the application" in result.stderr  # the application's still show
