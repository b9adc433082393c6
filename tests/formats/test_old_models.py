"""Models saved by every earlier milestone's own code load in this one, in every format.

The files come from ``tests/fixtures/old_models/old_models.tar.xz`` (made by ``make.py`` beside
it, with the old code checked out; see the README there). Each test unpacks them into its own
temporary folder: a load may complete an interrupted save, and must never write into the
fixtures.
"""

from __future__ import annotations

import json
import math
import shutil
import tarfile
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import paddle
import pytest

import mnistcnn
from mnistcnn import DigitClassifier, InconsistentVersionWarning, MnistCnnWarning, save

from ..conftest import TESTS

ARCHIVE = TESTS / "fixtures" / "old_models" / "old_models.tar.xz"

# What each milestone saved (make.py's MILESTONES): its smallest network, saved as "model" in
# every format it could write and as "legacy" (a static model with Paddle's legacy .pdmodel).
SAVED: dict[str, tuple[str, tuple[str, ...]]] = {
    "v0.1": ("tutorial", (".pdparams", ".json")),
    "v0.2": ("tutorial", (".pdparams", ".safetensors", ".json")),
    "v0.3": ("tutorial", (".pdparams", ".safetensors", ".json")),
    "v0.4": ("tutorial", (".pdparams", ".safetensors", ".json", ".onnx")),
    "v0.5": ("tutorial", (".pdparams", ".safetensors", ".json", ".onnx")),
    "v0.6": ("tiny", (".pdparams", ".safetensors", ".json", ".onnx")),
}
RECIPE_OF = {"tutorial": "tutorial", "tiny": "fast"}  # the recipe each was trained with
ENGINE_OF = {
    ".pdparams": "dynamic",
    ".safetensors": "dynamic",
    ".json": "static",
    ".pdmodel": "static",
    ".onnx": "onnxruntime",
}
HAS_ONNXRUNTIME = find_spec("onnxruntime") is not None


def _cases() -> list[Any]:
    cases = []
    for version, (_, suffixes) in SAVED.items():
        names = [f"model{suffix}" for suffix in suffixes] + ["model", "legacy.pdmodel"]
        for name in names:
            marks = []
            if name.endswith(".onnx"):
                marks.append(pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="the onnx extra"))
            cases.append(pytest.param(version, name, marks=marks, id=f"{version}-{name}"))
    return cases


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("old_models")
    with tarfile.open(ARCHIVE) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+: no links or paths out of folder
            archive.extractall(folder, filter="data")
        else:
            archive.extractall(folder)  # our own archive
    return folder


@pytest.fixture
def copy_of(unpacked: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A fresh copy of one milestone's folder, for this test alone."""

    def copy(version: str) -> Path:
        return Path(shutil.copytree(unpacked / version, tmp_path / version))

    return copy


def _release(version: str) -> tuple[str, ...]:
    """The part of a version that must agree for no warning: 0.x.y -> (0, x); else the major."""
    parts = version.split(".")
    return tuple(parts[:2]) if parts[0] == "0" else tuple(parts[:1])


def test_the_archive_holds_every_milestone_and_format() -> None:
    with tarfile.open(ARCHIVE) as archive:
        names = set(archive.getnames())
    for version, (_, suffixes) in SAVED.items():
        wanted = {f"model{s}" for s in suffixes} | {"model_meta.json", "legacy.pdmodel"}
        wanted |= {"model.pdiparams", "legacy.pdiparams", "legacy_meta.json"}
        wanted |= {"inputs.npy", "expected.npy"}
        assert {f"{version}/{name}" for name in wanted} <= names
        extra = {n for n in names if n.startswith(f"{version}/model.")} - {
            f"{version}/{n}" for n in wanted
        }
        assert not extra, f"{version} has formats the test does not know: {extra}"


@pytest.mark.parametrize(("version", "name"), _cases())
def test_a_model_saved_by_an_earlier_milestone_loads_and_predicts_the_same(
    copy_of: Callable[[str], Path], version: str, name: str
) -> None:
    folder = copy_of(version)
    architecture, suffixes = SAVED[version]
    prefix, dot, suffix = name.partition(".")
    meta = json.loads((folder / f"{prefix}_meta.json").read_text())
    recorded = meta["versions"]
    assert recorded["mnistcnn"] == "0.1.0"  # the version string every milestone carried

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classifier = DigitClassifier.load(folder / name)

    if dot:
        assert classifier.backend == ENGINE_OF[dot + suffix]
    else:  # a prefix: the fastest engine there are files and packages for
        fastest = "onnxruntime" if ".onnx" in suffixes and HAS_ONNXRUNTIME else "static"
        assert classifier.backend == fastest
    inputs = np.load(folder / "inputs.npy")
    expected = np.load(folder / "expected.npy")
    assert expected.shape == (4, 10) and not np.allclose(expected, 0.1, atol=1e-3)
    probabilities = classifier.predict_proba(inputs, preprocess="raw")
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert classifier.metadata.architecture == architecture
    assert classifier.metadata.output == "logits"
    assert classifier.classes_.tolist() == list(range(10))

    running = {"mnistcnn": mnistcnn.__version__, "paddle": paddle.__version__}
    version_warnings = [
        w.message for w in caught if isinstance(w.message, InconsistentVersionWarning)
    ]
    expected_packages = [
        package
        for package in ("mnistcnn", "paddle")
        if _release(recorded[package]) != _release(running[package])
    ]
    assert [w.package for w in version_warnings] == expected_packages
    for warning in version_warnings:
        assert warning.saved_version == recorded[warning.package]
        assert warning.current_version == running[warning.package]
    others = [w.message for w in caught if isinstance(w.message, MnistCnnWarning)]
    assert others == version_warnings  # nothing else of ours: no record refused, no fallback

    if prefix == "legacy":
        assert classifier.metadata.history is None
        assert classifier.metadata.accuracy is None
        return
    assert classifier.metadata.accuracy == 0.125
    history = classifier.metadata.history
    assert history is not None
    assert history.to_dict() == meta["training"]  # every field read back, nothing added
    assert history.unknown == {}
    assert [e.epoch for e in history.epochs] == [1]
    assert math.isfinite(history.epochs[0].loss)
    assert history.epochs[0].val_accuracy is not None
    assert (history.recipe.name, history.recipe.architecture) == (
        RECIPE_OF[architecture],
        architecture,
    )
    assert (history.recipe.epochs, history.recipe.batch_size) == (1, 256)
    assert (history.seed, history.world_size) == (0, 1)


def _newer_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as a newer mnistcnn might write it: fields this one does not know at the top,
    in the recipe, in its augmentation and in each epoch."""
    newer = json.loads(json.dumps(record))
    newer["optimizer"] = {"name": "lion", "betas": [0.9, 0.99]}
    newer["recipe"]["warmup_steps"] = 100
    newer["recipe"]["augmentation"]["erasing"] = 0.25
    for epoch in newer["epochs"]:
        epoch["learning_rate"] = 0.004
    return newer


def test_a_training_record_from_a_newer_mnistcnn_loads_and_is_saved_again_whole(
    copy_of: Callable[[str], Path], tmp_path: Path
) -> None:
    folder = copy_of("v0.6")
    meta_path = folder / "model_meta.json"
    meta = json.loads(meta_path.read_text())
    old_record = meta["training"]
    meta["training"] = _newer_record(old_record)
    meta_path.write_text(json.dumps(meta))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        classifier = DigitClassifier.load(folder / "model.safetensors")
    history = classifier.metadata.history
    assert history is not None
    assert history.unknown == {
        "optimizer": {"name": "lion", "betas": [0.9, 0.99]},
        "recipe": {"warmup_steps": 100, "augmentation": {"erasing": 0.25}},
        "epochs": [{"learning_rate": 0.004}] * len(old_record["epochs"]),
    }
    assert history.recipe.augmentation.rotation == old_record["recipe"]["augmentation"]["rotation"]
    assert history.recipe.learning_rate == old_record["recipe"]["learning_rate"]
    assert history.loss == [old_record["epochs"][0]["loss"]]
    assert not hasattr(history.recipe, "warmup_steps")

    save(classifier, tmp_path / "again", format="safetensors")
    again = json.loads((tmp_path / "again_meta.json").read_text())
    assert again["training"] == meta["training"]
    reloaded = DigitClassifier.load(tmp_path / "again")
    assert reloaded.metadata.history is not None
    assert reloaded.metadata.history.unknown == history.unknown
    np.testing.assert_allclose(
        reloaded.predict_proba(np.load(folder / "inputs.npy"), preprocess="raw"),
        np.load(folder / "expected.npy"),
        atol=1e-5,
    )


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


# Each takes the saved record and returns a damaged one.
DAMAGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "a string": lambda record: "twenty epochs",
    "a list": lambda record: [record],
    "a number": lambda record: 3,
    "no recipe": lambda record: _without(record, "recipe"),
    "a recipe name only": lambda record: {**record, "recipe": "fast"},
    "a recipe without epochs": lambda record: {
        **record,
        "recipe": _without(record["recipe"], "epochs"),
    },
    "augmentation a list": lambda record: {
        **record,
        "recipe": {**record["recipe"], "augmentation": [0.1, 0.1]},
    },
    "no epochs": lambda record: _without(record, "epochs"),
    "epochs a number": lambda record: {**record, "epochs": 2},
    "an epoch without loss": lambda record: {
        **record,
        "epochs": [_without(record["epochs"][0], "loss")],
    },
    "a NaN loss": lambda record: {
        **record,
        "epochs": [{**record["epochs"][0], "loss": float("nan")}],
    },
    "an infinite seed": lambda record: {**record, "seed": float("inf")},
    "a world size in words": lambda record: {**record, "world_size": "two"},
    "epochs of the recipe in words": lambda record: {
        **record,
        "recipe": {**record["recipe"], "epochs": "two"},
    },
    "an unknown schedule": lambda record: {
        **record,
        "recipe": {**record["recipe"], "schedule": "zigzag"},
    },
    "a rotation in words": lambda record: {
        **record,
        "recipe": {**record["recipe"], "augmentation": {"rotation": "ten degrees"}},
    },
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_malformed_training_record_never_stops_a_model_from_loading(
    copy_of: Callable[[str], Path], damage: str
) -> None:
    folder = copy_of("v0.6")
    meta_path = folder / "model_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["training"] = DAMAGES[damage](meta["training"])
    meta_path.write_text(json.dumps(meta))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classifier = DigitClassifier.load(folder / "model.pdparams")
    ours = [w.message for w in caught if isinstance(w.message, MnistCnnWarning)]
    refusals = [w for w in ours if not isinstance(w, InconsistentVersionWarning)]
    assert len(refusals) == 1
    assert type(refusals[0]) is MnistCnnWarning
    assert str(refusals[0]).startswith(f"{meta_path}: the 'training' record cannot be read")
    assert classifier.metadata.history is None
    assert classifier.metadata.architecture == "tiny"
    assert classifier.metadata.accuracy == 0.125
    np.testing.assert_allclose(
        classifier.predict_proba(np.load(folder / "inputs.npy"), preprocess="raw"),
        np.load(folder / "expected.npy"),
        atol=1e-5,
    )
