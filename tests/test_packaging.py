"""The wheel holds the package, its typing marker and the shipped weights, and nothing else."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("mnistcnn-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    from mnistcnn import __version__

    assert wheel.name == f"mnistcnn-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    package = {n for n in names if n.startswith("mnistcnn/")}
    assert "mnistcnn/py.typed" in package and "mnistcnn/__init__.py" in package
    for suffix in (".json", ".pdiparams", ".safetensors", "_meta.json"):
        assert f"mnistcnn/_models/weights/mnistcnn_best{suffix}" in package
    for suffix in (".safetensors", ".onnx", "_meta.json"):  # the reader of whole numbers
        assert f"mnistcnn/_models/weights/mnistcnn_reader{suffix}" in package
    outside = {n.split("/")[0] for n in names} - {"mnistcnn", f"mnistcnn-{__version__}.dist-info"}
    assert outside == set()  # no tests, docs, examples, benchmarks
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".orig", ".tmp"))]
    assert f"mnistcnn-{__version__}.dist-info/licenses/LICENSE" in names


def test_wheel_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith("dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    requirements = ("paddlepaddle>=3.1", "numpy>=1.26", "pillow>=10.0", "scipy>=1.10", "setuptools")
    for requirement in requirements:
        assert f"Requires-Dist: {requirement}" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    # matplotlib is optional: only the 'plot' extra (and the test and docs extras) asks for it.
    assert "Provides-Extra: plot" in metadata
    assert "Requires-Dist: matplotlib>=3.7; extra == 'plot'" in metadata
    assert not [line for line in metadata.splitlines() if line == "Requires-Dist: matplotlib>=3.7"]
    assert "mnistcnn = mnistcnn._cli._main:main" in entry_points
