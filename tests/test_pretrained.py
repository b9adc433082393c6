"""The weights shipped inside the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import DigitClassifier, MnistDataset, evaluate
from mnistcnn._classifier import PRETRAINED, WEIGHTS_DIR


@pytest.fixture(scope="module")
def pretrained() -> DigitClassifier:
    return DigitClassifier.pretrained()


def test_ships_safetensors_and_the_static_model_with_metadata() -> None:
    names = sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.name.startswith(PRETRAINED["best"]))
    prefix = PRETRAINED["best"]
    assert names == [  # no pickle: nothing shipped can run code when loaded
        f"{prefix}.json",
        f"{prefix}.pdiparams",
        f"{prefix}.safetensors",
        f"{prefix}_meta.json",
    ]
    # The classifier (static model and safetensors) and the sequence reader: a lean wheel.
    assert sum(p.stat().st_size for p in WEIGHTS_DIR.iterdir()) < 3_000_000


def test_accuracy_on_the_mnist_test_set(
    pretrained: DigitClassifier, test_set: MnistDataset
) -> None:
    report = evaluate(pretrained, test_set)
    assert report.accuracy >= 0.996, report.accuracy
    assert pretrained.metadata.accuracy == pytest.approx(report.accuracy, abs=1e-4)
    assert pretrained.backend == "static" and pretrained.metadata.architecture == "best"


@pytest.mark.slow
def test_dynamic_and_static_agree(pretrained: DigitClassifier, test_set: MnistDataset) -> None:
    dynamic = DigitClassifier.pretrained(backend="dynamic")
    assert dynamic.network is not None and dynamic.metadata.architecture == "best"
    np.testing.assert_allclose(
        dynamic.predict_proba(test_set.images), pretrained.predict_proba(test_set.images), atol=1e-5
    )


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="no pretrained model 'huge'; available: best"):
        DigitClassifier.pretrained("huge")


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
