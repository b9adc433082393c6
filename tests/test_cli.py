"""The command line, run as users run it: a separate process, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import DigitClassifier, MnistDataset
from mnistcnn._cli import build_parser, main

from .conftest import cli


def test_help_and_version() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict", "export", "show"):
        assert command in result.stdout
    from mnistcnn import __version__

    assert cli("--version").stdout.strip() == f"mnistcnn {__version__}"


@pytest.mark.slow
def test_train_evaluate_export_predict(
    tmp_path: Path, mnist_dir: Path, test_set: MnistDataset
) -> None:
    prefix = tmp_path / "net"
    trained = cli(
        "train",
        "--epochs",
        "1",
        "--limit",
        "3000",
        "--seed",
        "0",
        "-q",
        "-o",
        prefix,
        "--format",
        "dynamic",
        "--validate",
    )
    assert trained.returncode == 0, trained.stderr
    accuracy = float(trained.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.85
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pdparams", "net_meta.json"]
    metadata = DigitClassifier.load(prefix).metadata
    assert metadata.accuracy == pytest.approx(accuracy, abs=1e-4)
    # The training record: recipe, seed, and (--validate) the test accuracy after the epoch.
    assert metadata.history is not None
    assert (metadata.history.recipe.name, metadata.history.seed) == ("tutorial", 0)
    assert len(metadata.history.epochs) == 1
    assert metadata.history.epochs[0].val_accuracy == pytest.approx(accuracy, abs=1e-4)

    evaluated = cli("evaluate", prefix, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(accuracy, abs=1e-4)

    exported = cli("export", prefix.with_suffix(".pdparams"), "-o", tmp_path / "static")
    assert exported.returncode == 0, exported.stderr
    static = DigitClassifier.load(tmp_path / "static")
    assert static.backend == "static"

    files = []
    for i in range(3):
        Image.fromarray(test_set.images[i]).save(tmp_path / f"d{i}.png")
        files.append(tmp_path / f"d{i}.png")
    predicted = cli("predict", "--model", tmp_path / "static", *files, "--json")
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [row["label"] for row in rows] == static.predict(test_set.images[:3]).tolist()
    assert all(0 <= row["probability"] <= 1 and len(row["probabilities"]) == 10 for row in rows)

    plain = cli("predict", "--model", prefix, files[0])
    assert plain.stdout.startswith(f"{files[0]}: {rows[0]['label']} (p=")


@pytest.mark.cli
def test_predict_reports_a_bad_file_and_goes_on(
    tmp_path: Path, saved_model: Path, test_set: MnistDataset
) -> None:
    Image.fromarray(test_set.images[0]).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    result = cli("predict", "--model", saved_model, tmp_path / "bad.png", tmp_path / "good.png")
    assert result.returncode == 1
    assert "bad.png: not a readable image" in result.stderr
    assert "good.png: 7" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.cli
def test_show_writes_a_png(tmp_path: Path, saved_model: Path) -> None:
    result = cli(
        "show",
        "--split",
        "test",
        "--count",
        "10",
        "-o",
        tmp_path / "grid.png",
        "--model",
        saved_model,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.format == "PNG" and grid.width > 200 and grid.height > 90


@pytest.mark.cli
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "nowhere/model"], "no model found"),
        (["predict", "--model", "nowhere/m", "x.png"], "no model found: expected"),
        (["show", "--count", "0"], "--count must be at least 1"),
        (["train", "--model", "nope", "--limit", "10"], "unknown model 'nope'"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_1(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.cli
def test_missing_data_is_explained(tmp_path: Path) -> None:
    env = {**os.environ, "MNISTCNN_DATA": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "mnistcnn", "show", "--no-download"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1
    assert "MNIST train files not found" in result.stderr and "MNISTCNN_DATA" in result.stderr


def test_argument_errors_exit_2() -> None:
    assert cli("train", "--epochs", "many").returncode == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_parser_is_the_documented_one() -> None:
    parser = build_parser()
    assert parser.prog == "mnistcnn"
    defaults = parser.parse_args(["train"])
    assert (defaults.recipe, defaults.epochs, defaults.procs, defaults.format) == (
        "tutorial",
        None,
        1,
        "both",
    )


@pytest.mark.cli
def test_export_converts_between_weight_formats(tmp_path: Path) -> None:
    from mnistcnn import build_model, save

    network = build_model("fast", seed=3)
    save(network, tmp_path / "m", format="dynamic")
    exported = cli(
        "export", tmp_path / "m.pdparams", "-o", tmp_path / "safe", "--format", "safetensors"
    )
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("safe")) == [
        "safe.safetensors",
        "safe_meta.json",
    ]
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    expected = DigitClassifier(network).predict_proba(images)
    assert np.array_equal(DigitClassifier.load(tmp_path / "safe").predict_proba(images), expected)
    both = cli("export", tmp_path / "safe", "-o", tmp_path / "st", "--format", "static")
    assert both.returncode == 0, both.stderr
    static = DigitClassifier.load(tmp_path / "st")
    assert static.backend == "static"
    np.testing.assert_allclose(static.predict_proba(images), expected, atol=1e-5)


@pytest.mark.slow
def test_the_library_speaks_in_plain_lines_not_paddles_log_format(
    tmp_path: Path, mnist_dir: Path
) -> None:
    args = ["train", "--recipe", "fast", "--epochs", "1", "--limit", "512", "-q"]
    args += ["--checkpoint-dir", str(tmp_path / "ck"), "-o", str(tmp_path / "m")]
    first = cli(*args, env={"MNISTCNN_DATA": str(mnist_dir)})
    assert first.returncode == 0, first.stderr
    resumed = cli(*args, env={"MNISTCNN_DATA": str(mnist_dir)})
    assert resumed.returncode == 0, resumed.stderr
    assert f"mnistcnn: resuming from {tmp_path / 'ck' / 'epoch-0001'} after epoch 1" in (
        resumed.stderr.splitlines()
    )
    assert "INFO]" not in resumed.stderr and "ccache" not in resumed.stderr  # Paddle's format


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_serve_warns_unless_it_listens_on_loopback(host: str, loopback: bool) -> None:
    from mnistcnn._cli import _loopback

    assert _loopback(host) is loopback
