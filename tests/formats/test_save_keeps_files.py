"""A save or export never removes a file nobody asked it to replace, nor the file it reads from;
and a path with a suffix loads that file or fails (it never falls back to another file)."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from mnistcnn import (
    DigitClassifier,
    ModelExistsError,
    ModelNotFoundError,
    build_model,
    save,
)
from mnistcnn._cli._main import main

from ..conftest import cli

CAN_EXPORT_ONNX = sys.version_info[:2] <= (3, 12) and bool(find_spec("paddle2onnx"))

FILES = {
    "dynamic": ("m.pdparams",),
    "safetensors": ("m.safetensors",),
    "static": ("m.json", "m.pdiparams"),
    "onnx": ("m.onnx",),
}
# What a model saved in the first format can be saved as once loaded: a static model holds no
# network, so it gives static and onnx only; an ONNX model gives onnx only.
PAIRS = [
    (first, second)
    for first, second in product(FILES, FILES)
    if first != second
    and (first in ("dynamic", "safetensors") or second in {"static": ("onnx",), "onnx": ()}[first])
    and (CAN_EXPORT_ONNX or "onnx" not in (first, second))
]
IMAGES = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in _names(folder)}


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_saving_a_loaded_model_in_another_format_keeps_its_files(
    tmp_path: Path, first: str, second: str
) -> None:
    network = build_model("tiny", seed=1)
    save(network, tmp_path / "m", format=first)
    before = _bytes(tmp_path)
    classifier = DigitClassifier.load(tmp_path / FILES[first][0])
    save(classifier, tmp_path / "m", format=second)
    assert _names(tmp_path) == sorted({*FILES[first], *FILES[second], "m_meta.json"})
    for name in FILES[first]:  # the file read from is still there, byte for byte
        assert (tmp_path / name).read_bytes() == before[name]
    metadata = DigitClassifier.load(tmp_path / "m").metadata
    assert sorted(metadata.files) == sorted(n[1:] for n in (*FILES[first], *FILES[second]))
    expected = DigitClassifier(network).predict_proba(IMAGES)
    for name in (FILES[first][0], FILES[second][0]):  # each file loads, digest checked
        again = DigitClassifier.load(tmp_path / name).predict_proba(IMAGES)
        np.testing.assert_allclose(again, expected, atol=1e-5)


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_the_command_line_export_keeps_the_model_it_reads(
    tmp_path: Path, first: str, second: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save(build_model("tiny", seed=2), tmp_path / "m", format=first)
    before = _bytes(tmp_path)
    source = str(tmp_path / FILES[first][0])
    assert main(["export", source, "--format", second, "-o", str(tmp_path / "m")]) == 0
    assert _names(tmp_path) == sorted({*FILES[first], *FILES[second], "m_meta.json"})
    for name in FILES[first]:
        assert (tmp_path / name).read_bytes() == before[name]
    assert "saved" in capsys.readouterr().out


@pytest.mark.cli
def test_the_issue_commands_keep_every_file(tmp_path: Path) -> None:
    """The two commands of the report, as a user runs them: nothing is lost."""
    save(build_model("tiny", seed=3), tmp_path / "m", format="safetensors")
    first = cli("export", tmp_path / "m.safetensors", "--format", "static", "-o", tmp_path / "m")
    assert first.returncode == 0, first.stderr
    assert _names(tmp_path) == ["m.json", "m.pdiparams", "m.safetensors", "m_meta.json"]
    save(build_model("tiny", seed=4), tmp_path / "n", format="both")
    second = cli("export", tmp_path / "n", "--format", "safetensors", "-o", tmp_path / "n")
    assert second.returncode == 0, second.stderr
    names = [n for n in _names(tmp_path) if n.startswith("n")]
    assert names == ["n.json", "n.pdiparams", "n.pdparams", "n.safetensors", "n_meta.json"]


def test_another_model_is_not_removed_without_replace(tmp_path: Path) -> None:
    save(build_model("tiny", seed=1), tmp_path / "m", format="both")
    before = _bytes(tmp_path)
    with pytest.raises(ModelExistsError, match=r"m\.json, m\.pdiparams.*replace=True") as raised:
        save(build_model("tiny", seed=2), tmp_path / "m", format="dynamic")
    assert isinstance(raised.value, FileExistsError)
    assert _bytes(tmp_path) == before  # nothing written, nothing removed
    save(build_model("tiny", seed=2), tmp_path / "m", format="dynamic", replace=True)
    assert _names(tmp_path) == ["m.pdparams", "m_meta.json"]


def test_a_changed_network_is_another_model(tmp_path: Path) -> None:
    """A loaded network changed after loading no longer matches its other files: they are not
    kept beside it, so the prefix never holds two different networks."""
    save(build_model("tiny", seed=1), tmp_path / "m", format="both")
    classifier = DigitClassifier.load(tmp_path / "m", backend="dynamic")
    assert classifier.network is not None
    weight = next(iter(classifier.network.parameters()))
    weight.set_value(weight.numpy() + 1.0)
    with pytest.raises(ModelExistsError):
        save(classifier, tmp_path / "m", format="safetensors")
    status = main(
        ["export", str(tmp_path / "m"), "--format", "safetensors", "-o", str(tmp_path / "m")]
    )
    assert status == 0  # the unchanged files, read again, are the same model: kept


def test_the_same_formats_replace_the_previous_model(tmp_path: Path) -> None:
    save(build_model("tiny", seed=1), tmp_path / "m", format="both")
    save(build_model("tiny", seed=2), tmp_path / "m", format="both")
    expected = DigitClassifier(build_model("tiny", seed=2)).predict_proba(IMAGES)
    again = DigitClassifier.load(tmp_path / "m").predict_proba(IMAGES)
    np.testing.assert_allclose(again, expected, atol=1e-6)


@pytest.mark.cli
def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    save(build_model("tiny", seed=1), tmp_path / "m", format="static")
    with pytest.raises(ModelNotFoundError, match=r"m\.safetensors: no such file"):
        DigitClassifier.load(tmp_path / "m.safetensors")
    assert DigitClassifier.load(tmp_path / "m").backend == "static"  # the prefix: the best there
    with pytest.raises(ValueError, match="for the 'static' engine, not 'dynamic'"):
        DigitClassifier.load(tmp_path / "m.json", backend="dynamic")
    exported = cli("export", tmp_path / "m.safetensors", "--format", "onnx", "-o", tmp_path / "x")
    assert exported.returncode != 0
    assert "m.safetensors: no such file" in exported.stderr
    assert not any(p.name.startswith("x") for p in tmp_path.iterdir())


def test_a_named_file_left_by_an_earlier_save_is_refused(tmp_path: Path) -> None:
    """A file the metadata does not list belongs to no model: naming it is an error, not a
    load of whatever network it holds with another model's metadata."""
    save(build_model("tiny", seed=1), tmp_path / "m", format="dynamic")
    leftover = (tmp_path / "m.pdparams").read_bytes()
    save(build_model("tiny", seed=2), tmp_path / "m", format="safetensors", replace=True)
    (tmp_path / "m.pdparams").write_bytes(leftover)
    with pytest.raises(ValueError, match="not part of the model its metadata describes"):
        DigitClassifier.load(tmp_path / "m.pdparams")


def test_a_network_holding_the_saved_weights_is_that_model(tmp_path: Path) -> None:
    """However the network came back into memory (here: rebuilt and given the saved weights),
    if it holds exactly the weights saved at the prefix, a save adds its format beside them and
    the metadata (accuracy) carries over."""
    network = build_model("tiny", seed=5)
    save(network, tmp_path / "m", format="safetensors", accuracy=0.5)
    again = build_model("tiny", seed=6)
    again.set_state_dict(network.state_dict())
    save(again, tmp_path / "m", format="static")
    assert _names(tmp_path) == ["m.json", "m.pdiparams", "m.safetensors", "m_meta.json"]
    metadata = DigitClassifier.load(tmp_path / "m").metadata
    assert metadata.accuracy == 0.5 and sorted(metadata.files) == [
        ".json",
        ".pdiparams",
        ".safetensors",
    ]
    other = build_model("tiny", seed=7)  # other weights: another model
    with pytest.raises(
        ModelExistsError, match=r"m\.json, m\.pdiparams, m\.safetensors already hold"
    ):
        save(other, tmp_path / "m", format="onnx" if CAN_EXPORT_ONNX else "dynamic")
