from __future__ import annotations

import ast
import importlib
import logging
import re
import subprocess
import sys
import typing
from importlib.util import find_spec
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


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle anywhere in the package, function-level imports included (the stage
    order itself is import-linter's contract, checked by lint-imports)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("mnistcnn")
    cycles = [
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("mnistcnn")
        and graph.chain_exists(importer=imported, imported=module)
    ]
    assert cycles == []


def test_dir_shows_the_public_names_only() -> None:
    names = run_python("-c", "import mnistcnn; print(' '.join(dir(mnistcnn)))").stdout.split()
    assert names == sorted(mnistcnn.__all__)
    for noise in ("Any", "TYPE_CHECKING", "annotations", "dataclasses", "importlib", "_HOME"):
        assert noise not in names


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
    assert not {m for m in modules if m.startswith("mnistcnn._training")}


def test_predicting_and_reading_with_the_shipped_models_import_no_training() -> None:
    modules = _modules_after(
        "import numpy as np\n"
        "from mnistcnn import DigitClassifier\n"
        "from PIL import Image, ImageDraw\n"
        "page = Image.new('L', (200, 80), 255)\n"
        "pen = ImageDraw.Draw(page)\n"
        "pen.line([(30, 10), (30, 70)], fill=0, width=6)\n"
        "pen.line([(90, 10), (90, 70)], fill=0, width=6)\n"
        "classifier = DigitClassifier.pretrained()\n"
        "assert classifier.predict(page.crop((0, 0, 60, 80)))[0] == 1\n"
        "assert classifier.read_digits(page).text == '11'\n"
    )
    assert "mnistcnn._reading._numbers" in modules and "mnistcnn._inference._classifier" in modules
    assert not {m for m in modules if m.startswith("mnistcnn._training")}
    assert not {m for m in modules if m.startswith(("mnistcnn._data._composing", "mnistcnn._cli"))}


@pytest.mark.skipif(find_spec("onnxruntime") is None, reason="the onnx extra")
def test_predicting_on_onnx_runtime_imports_no_paddle() -> None:
    modules = _modules_after(
        "from PIL import Image, ImageDraw\n"
        "from mnistcnn import DigitClassifier\n"
        "page = Image.new('L', (60, 80), 255)\n"
        "ImageDraw.Draw(page).line([(30, 10), (30, 70)], fill=0, width=6)\n"
        "classifier = DigitClassifier.pretrained()\n"
        "assert classifier.backend == 'onnxruntime', classifier.backend\n"
        "assert classifier.predict(page)[0] == 1\n"
    )
    assert "onnxruntime" in modules
    assert not {m for m in modules if m == "paddle" or m.startswith("paddle.")}


@pytest.mark.skipif(find_spec("onnxruntime") is None, reason="the onnx extra")
def test_reading_a_number_on_onnx_runtime_imports_no_paddle() -> None:
    modules = _modules_after(
        "from PIL import Image, ImageDraw\n"
        "from mnistcnn import DigitClassifier\n"
        "page = Image.new('L', (130, 80), 255)\n"
        "pen = ImageDraw.Draw(page)\n"
        "pen.line([(30, 10), (30, 70)], fill=0, width=6)\n"
        "pen.arc([(50, 10), (110, 70)], 0, 360, fill=0, width=6)\n"
        "classifier = DigitClassifier.pretrained()\n"
        "for method in ('auto', 'segments', 'sequence'):\n"
        "    assert classifier.read_digits(page, method=method).text == '10', method\n"
    )
    assert "mnistcnn._reading._numbers" in modules and "onnxruntime" in modules
    assert not {m for m in modules if m == "paddle" or m.startswith("paddle.")}


@pytest.mark.cli
@pytest.mark.smoke
@pytest.mark.skipif(find_spec("onnxruntime") is None, reason="the onnx extra")
def test_the_command_line_predicts_a_picture_without_paddle(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    page = Image.new("L", (60, 80), 255)
    ImageDraw.Draw(page).line([(30, 10), (30, 70)], fill=0, width=6)
    page.save(tmp_path / "one.png")
    code = (
        "import sys\n"
        "from mnistcnn._cli._main import main\n"  # what the mnistcnn script runs
        f"status = main(['predict', {str(tmp_path / 'one.png')!r}])\n"
        "print('paddle imported:', 'paddle' in sys.modules)\n"
        "raise SystemExit(status)\n"
    )
    result = run_python("-c", code)
    answer, imported = result.stdout.splitlines()
    assert re.fullmatch(rf"{re.escape(str(tmp_path / 'one.png'))}: 1 \(p=0\.\d{{3}}\)", answer)
    assert imported == "paddle imported: False"


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
