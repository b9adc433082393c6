"""Every example runs as a user would run it (with a short setting where it trains)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import MnistDataset

from .conftest import run_python
from .pictures import load_usps, number_picture, photo_of

EXAMPLES = Path(__file__).parent.parent / "examples"


SUFFIXES = (".json", ".pdiparams", ".pdparams", "_meta.json")


@pytest.mark.cli
@pytest.mark.slow
@pytest.mark.xdist_group("gloo")  # trains in 2 gloo processes
def test_quickstart(tmp_path: Path) -> None:
    # The README's main command with a fifth of the images: the fast recipe on 2 processes.
    result = run_python(EXAMPLES / "quickstart.py", "--limit", "12000", "--output", tmp_path / "m")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("recipe fast: 2 epochs on 2 processes in ")
    reported = lines[0].split("test accuracy ")[1]
    assert float(reported.rstrip("%")) / 100 >= 0.95  # about 97.9%
    truth = next(line for line in lines if line.startswith("true labels"))
    static = next(line for line in lines if line.startswith("static predicts"))
    dynamic = next(line for line in lines if line.startswith("dynamic predicts"))
    assert static.split(":")[1].strip() == dynamic.split(":")[1].strip()
    assert truth.split(":")[1].strip() == "[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]"
    drawn = next(line for line in lines if line.startswith("a drawn 7"))
    assert drawn.split("static predicts ")[1].startswith("7 (p=")
    for suffix in SUFFIXES:
        assert (tmp_path / f"m{suffix}").is_file(), suffix
    assert lines[-1] == f"static model test accuracy: {reported}"
    # Line by line: what the example prints and nothing else (no Paddle banner, no warnings).
    expected = [
        r"recipe fast: 2 epochs on 2 processes in \d+ s; test accuracy [\d.]+%",
        *(rf"saved {re.escape(str(tmp_path / 'm'))}{re.escape(s)}" for s in SUFFIXES),
        r"true labels: +\[[\d, ]+\]",
        r"dynamic predicts: +\[[\d, ]+\]",
        r"static predicts: +\[[\d, ]+\]",
        r"a drawn 7 \(240x320 pixels\): static predicts \d \(p=[\d.]+\)",
        r"static model test accuracy: [\d.]+%",
    ]
    assert len(lines) == len(expected), result.stdout
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    # stderr holds the training progress of the first process, and nothing else.
    progress = [line for line in re.split(r"[\r\n]+", result.stderr) if line.strip()]
    assert progress, "no progress shown"
    for line in progress:
        assert re.match(r"epoch [12]/2\b", line), line


@pytest.mark.cli
@pytest.mark.slow
def test_train_and_export(tmp_path: Path) -> None:
    result = run_python(
        EXAMPLES / "train_and_export.py",
        "--recipe",
        "tutorial",
        "--epochs",
        "1",
        "--limit",
        "3000",
        "--output",
        tmp_path / "model",
    )
    assert result.stdout.startswith("recipe tutorial: ")
    accuracy = float(result.stdout.split("test accuracy ")[1].split("%")[0]) / 100
    assert accuracy >= 0.85  # one epoch on 3,000 images
    assert (tmp_path / "model.json").is_file() and (tmp_path / "model.pdparams").is_file()


@pytest.mark.cli
def test_static_inference(saved_model: Path) -> None:
    result = run_python(EXAMPLES / "static_inference.py", saved_model)
    lines = result.stdout.splitlines()
    assert result.stderr == ""  # no import-time noise from Paddle (such as "No ccache found")
    assert lines[0].split()[-1] == lines[1].split()[-1]  # same accuracy both ways
    assert float(lines[2].split()[-1]) < 1e-5


@pytest.mark.cli
@pytest.mark.slow
@pytest.mark.skipif(
    sys.version_info[:2] not in ((3, 10), (3, 11), (3, 12)), reason="paddle2onnx: 3.10-3.12"
)
def test_onnx_inference(saved_model: Path, tmp_path: Path) -> None:
    result = run_python(EXAMPLES / "onnx_inference.py", saved_model, tmp_path / "deploy")
    lines = result.stdout.splitlines()
    assert lines[0] == "exported deploy.onnx, deploy_meta.json"
    alone, ours = lines[1].split()[-1], lines[2].split()[-1]
    assert alone == ours and float(alone.rstrip("%")) >= 85  # the one-epoch test network
    assert lines[2].startswith("mnistcnn (onnxruntime):")
    assert float(lines[3].split()[-1]) < 1e-4


@pytest.mark.cli
def test_recognise_photo(tmp_path: Path, test_set: MnistDataset) -> None:
    photo = photo_of(test_set.images[0], np.random.default_rng(0))
    photo.save(tmp_path / "seven.jpg")
    (tmp_path / "notes.txt").write_text("not a picture")
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "recognise_photo.py"),
            str(tmp_path / "seven.jpg"),
            str(tmp_path / "notes.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1  # the text file is skipped and reported
    assert f"{tmp_path / 'seven.jpg'}: 7 (p=" in result.stdout
    assert "skipped:" in result.stdout and (tmp_path / "seven_seen.png").is_file()


@pytest.mark.cli
def test_read_postal_code(tmp_path: Path) -> None:
    ink, labels = load_usps()
    picture = number_picture([ink[i] for i in range(5)], np.random.default_rng(0))
    picture.save(tmp_path / "code.png")
    result = run_python(
        EXAMPLES / "read_postal_code.py", tmp_path / "code.png", "--min-confidence", "0"
    )
    truth = "".join(str(label) for label in labels[:5])
    assert result.stdout.splitlines()[0].startswith(f"read: {truth} (p=0.")
    assert len(result.stdout.splitlines()) == 6


@pytest.mark.cli
def test_read_postal_code_on_an_envelope(tmp_path: Path) -> None:
    result = run_python(
        EXAMPLES / "read_postal_code.py",
        "--envelope",
        tmp_path / "envelope.jpg",
        "--show",
        tmp_path / "read.png",
    )
    lines = result.stdout.splitlines()
    written = lines[0].rsplit(" ", 1)[1]
    assert len(written) == 6 and lines[1].startswith(f"read: {written} (p=")
    assert lines[2] == "6 printed boxes:"  # the stamp box is not one of them
    assert (tmp_path / "read.png").is_file()


@pytest.mark.cli
@pytest.mark.slow
def test_confusion_matrix(saved_model: Path, test_set: MnistDataset, tmp_path: Path) -> None:
    from mnistcnn import DigitClassifier, evaluate

    result = run_python(EXAMPLES / "confusion_matrix.py", saved_model, "--output-dir", tmp_path)
    expected = evaluate(DigitClassifier.load(saved_model), test_set)
    assert result.stdout.splitlines()[0].startswith(f"accuracy {expected.accuracy:.4f} ")
    for name in ("confusion_matrix.png", "mistakes.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width > 400
    assert f"wrote {tmp_path / 'confusion_matrix.png'} and " in result.stdout


@pytest.mark.cli
def test_cluster_predict(tmp_path: Path, test_set: MnistDataset) -> None:
    folder = tmp_path / "scans"
    (folder / "box").mkdir(parents=True)
    for index in range(30):
        Image.fromarray(test_set.images[index]).save(folder / "box" / f"{index:02d}.png")
    (folder / "box" / "15b.png").write_bytes(b"not a picture")
    output = tmp_path / "results.csv"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "cluster_predict.py"), folder, "--output", output],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr  # the bad file is reported, the rest read
    assert result.stdout.startswith("31 files in ")
    assert "1 could not be read" in result.stdout
    assert f"error: {folder / 'box' / '15b.png'}: not a readable image" in result.stderr
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file,label,probability,error"
    rows = [line.split(",", 3) for line in lines[1:]]
    names = [f"{index:02d}.png" for index in range(30)]
    assert [Path(row[0]).name for row in rows] == sorted([*names, "15b.png"])
    labels = [int(row[1]) for row in rows if row[1]]
    assert len(labels) == 30
    assert np.mean(np.array(labels) == test_set.labels[:30]) >= 29 / 30
