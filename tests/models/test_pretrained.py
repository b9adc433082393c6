"""The weights shipped inside the package."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import warnings
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mnistcnn
from mnistcnn import DigitClassifier, MnistDataset, evaluate
from mnistcnn._formats._loading import open_model
from mnistcnn._models._weights import PRETRAINED, WEIGHTS_DIR


@pytest.fixture(scope="module")
def pretrained() -> DigitClassifier:
    return DigitClassifier.pretrained()


def test_ships_safetensors_static_and_onnx_models_with_metadata() -> None:
    names = sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.name.startswith(PRETRAINED["best"]))
    prefix = PRETRAINED["best"]
    assert names == [  # no pickle: nothing shipped can run code when loaded
        f"{prefix}.json",
        f"{prefix}.onnx",
        f"{prefix}.pdiparams",
        f"{prefix}.safetensors",
        f"{prefix}_meta.json",
    ]
    # The classifier (static, ONNX and safetensors) and the sequence reader (safetensors and
    # ONNX): a lean wheel.
    assert sum(p.stat().st_size for p in WEIGHTS_DIR.iterdir()) < 4_500_000


@pytest.mark.parametrize("name", ["mnistcnn_best", "mnistcnn_reader"])
def test_the_shipped_models_record_this_release(name: str) -> None:
    """A release that changes the version updates the shipped metadata with it: otherwise
    every load of the shipped models warns that another version wrote them."""
    metadata = json.loads((WEIGHTS_DIR / f"{name}_meta.json").read_text(encoding="utf-8"))
    assert metadata["versions"]["mnistcnn"] == mnistcnn.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_model(WEIGHTS_DIR / name, backend=None, architecture=None, num_threads=None)


def test_accuracy_on_the_mnist_test_set(
    pretrained: DigitClassifier, test_set: MnistDataset
) -> None:
    report = evaluate(pretrained, test_set)
    assert report.accuracy >= 0.996, report.accuracy
    assert pretrained.metadata.accuracy == pytest.approx(report.accuracy, abs=1e-4)
    fastest = "onnxruntime" if find_spec("onnxruntime") else "static"
    assert pretrained.backend == fastest and pretrained.metadata.architecture == "best"


def test_every_engine_agrees_with_every_other(test_set: MnistDataset) -> None:
    engines = ["dynamic", "static"] + (["onnxruntime"] if find_spec("onnxruntime") else [])
    probabilities = {}
    for engine in engines:
        classifier = DigitClassifier.pretrained(backend=engine)  # type: ignore[arg-type]
        assert classifier.backend == engine and classifier.metadata.architecture == "best"
        probabilities[engine] = classifier.predict_proba(test_set.images, batch_size=500)
    for first, second in itertools.combinations(engines, 2):
        difference = np.abs(probabilities[first] - probabilities[second]).max()
        assert difference <= 1e-4, (first, second, difference)
        agree = (probabilities[first].argmax(1) == probabilities[second].argmax(1)).mean()
        assert agree >= 0.9999, (first, second, agree)


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="no pretrained model 'huge'; available: best"):
        DigitClassifier.pretrained("huge")


@pytest.mark.cli
@pytest.mark.smoke
def test_cli_predicts_with_the_pretrained_model_by_default(
    tmp_path: Path, test_set: MnistDataset
) -> None:
    Image.fromarray(255 - test_set.images[0]).resize((140, 140)).save(tmp_path / "seven.png")
    result = subprocess.run(
        [sys.executable, "-m", "mnistcnn", "predict", str(tmp_path / "seven.png")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{tmp_path / 'seven.png'}: 7 (p=")
