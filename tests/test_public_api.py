from __future__ import annotations

import logging
import subprocess
import sys
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
    assert "mnistcnn._classifier" in modules
    assert "mnistcnn._training" not in modules


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
