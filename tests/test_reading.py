"""Reading whole numbers composed of real handwritten digits (USPS envelope scans)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import DigitClassifier, ImageError, Reading

from .pictures import load_usps, number_picture


@pytest.fixture(scope="module")
def model() -> DigitClassifier:
    return DigitClassifier.pretrained()


@pytest.fixture(scope="module")
def usps() -> tuple[np.ndarray, np.ndarray]:
    return load_usps()


def numbers(
    usps: tuple[np.ndarray, np.ndarray], count: int, *, touching: bool, seed: int
) -> list[tuple[Image.Image, str]]:
    ink, labels = usps
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        index = rng.choice(len(labels), size=int(rng.integers(5, 7)), replace=False)
        picture = number_picture([ink[i] for i in index], rng, touching=touching)
        result.append((picture, "".join(str(labels[i]) for i in index)))
    return result


def test_postal_codes_are_read_exactly(
    model: DigitClassifier, usps: tuple[np.ndarray, np.ndarray]
) -> None:
    cases = numbers(usps, 80, touching=False, seed=1)
    exact = [
        model.read_digits(picture, min_confidence=0.0).text == truth for picture, truth in cases
    ]
    assert np.mean(exact) >= 0.82, np.mean(exact)


def test_touching_digits_are_cut_apart(
    model: DigitClassifier, usps: tuple[np.ndarray, np.ndarray]
) -> None:
    cases = numbers(usps, 40, touching=True, seed=2)
    readings = [model.read_digits(picture, min_confidence=0.0) for picture, _ in cases]
    right_count = np.mean(
        [len(r.digits) == len(truth) for r, (_, truth) in zip(readings, cases, strict=True)]
    )
    exact = np.mean([r.text == truth for r, (_, truth) in zip(readings, cases, strict=True)])
    assert right_count >= 0.7, right_count
    assert exact >= 0.6, exact


def test_boxes_are_left_to_right_inside_the_picture(
    model: DigitClassifier, usps: tuple[np.ndarray, np.ndarray]
) -> None:
    picture, _truth = numbers(usps, 1, touching=False, seed=3)[0]
    reading = model.read_digits(picture)
    assert isinstance(reading, Reading) and str(reading) == reading.text
    lefts = [d.box[0] for d in reading.digits]
    assert lefts == sorted(lefts)
    for digit in reading.digits:
        left, top, right, bottom = digit.box
        assert 0 <= left < right <= picture.width and 0 <= top < bottom <= picture.height
        assert 0.0 < digit.probability <= 1.0


def test_broken_digits_are_joined(
    model: DigitClassifier, usps: tuple[np.ndarray, np.ndarray]
) -> None:
    ink, labels = usps
    fives = [i for i in np.flatnonzero(labels == 5)][:20]
    joined = 0
    for i in fives:
        broken = ink[i].copy()
        rows = np.flatnonzero(broken.max(axis=1) > 128)
        broken[rows[0] + 3 : rows[0] + 5] = 0  # cut the bar of the 5 off its body
        picture = number_picture([ink[0], broken, ink[1]], np.random.default_rng(int(i)))
        reading = model.read_digits(picture, min_confidence=0.0)
        joined += len(reading.digits) == 3
    assert joined >= 16


def test_confidence_threshold_marks_unsure_digits(
    model: DigitClassifier, usps: tuple[np.ndarray, np.ndarray]
) -> None:
    picture, _truth = numbers(usps, 1, touching=False, seed=4)[0]
    sure = model.read_digits(picture, min_confidence=0.0)
    assert "?" not in sure.text and sure.confident
    unsure = model.read_digits(picture, min_confidence=1.0)
    assert unsure.text == "?" * len(sure.digits) and not unsure.confident
    assert [d.label for d in unsure.digits] == [d.label for d in sure.digits]  # guesses kept
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]"):
        model.read_digits(picture, min_confidence=2)


def test_blank_picture(model: DigitClassifier) -> None:
    with pytest.raises(ImageError, match="no ink"):
        model.read_digits(Image.new("L", (300, 100), 240))


def test_cli_reads_numbers_as_json(usps: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    cases = numbers(usps, 3, touching=False, seed=5)
    for i, (picture, _) in enumerate(cases):
        picture.save(tmp_path / f"code{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    result = subprocess.run(
        [sys.executable, "-m", "mnistcnn", "predict", "--digits", "--json", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1  # one file failed; the others were still read
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["file"]).name for r in rows] == [
        "broken.png",
        "code0.png",
        "code1.png",
        "code2.png",
    ]
    assert "error" in rows[0] and "broken.png" in result.stderr
    model = DigitClassifier.pretrained()
    for row, (picture, _) in zip(rows[1:], cases, strict=True):
        assert row["text"] == model.read_digits(picture).text
        assert len(row["digits"]) == len(row["text"]) and len(row["digits"][0]["box"]) == 4


def test_cli_show_saves_what_the_model_sees(
    tmp_path: Path, usps: tuple[np.ndarray, np.ndarray]
) -> None:
    ink, _ = usps
    Image.fromarray(255 - ink[0]).resize((64, 64)).save(tmp_path / "digit.png")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistcnn",
            "predict",
            str(tmp_path / "*.png"),
            "--show",
            str(tmp_path / "seen"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "seen" / "digit_28x28.png") as seen:
        assert seen.size == (224, 224)
        small = np.asarray(seen.resize((28, 28), Image.Resampling.NEAREST))
    assert np.array_equal(small, DigitClassifier.preprocess(tmp_path / "digit.png"))
