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

from ..conftest import cli
from ..held_out import Number
from ..held_out import numbers as held_out_numbers
from ..pictures import load_usps, number_picture

TOUCHING_FLOOR = 0.7  # measured 0.80 (segments: 0.37)


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


def test_text_is_the_best_guess_and_confidence_only_flags(
    model: DigitClassifier, usps: tuple[np.ndarray, np.ndarray]
) -> None:
    picture, _truth = numbers(usps, 1, touching=False, seed=4)[0]
    sure = model.read_digits(picture, min_confidence=0.0)
    assert sure.confident and sure.text == "".join(str(d.label) for d in sure.digits)
    assert sure.probability == pytest.approx(np.prod([d.probability for d in sure.digits]))
    assert 0.0 < sure.probability <= min(d.probability for d in sure.digits)
    unsure = model.read_digits(picture, min_confidence=1.0)
    assert unsure.text == sure.text and not unsure.confident  # the same best guess
    assert not any(d.confident for d in unsure.digits)
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]"):
        model.read_digits(picture, min_confidence=2)
    with pytest.raises(ValueError, match="method must be 'auto', 'segments' or 'sequence'"):
        model.read_digits(picture, method="ocr")  # type: ignore[arg-type]


def test_blank_picture(model: DigitClassifier) -> None:
    with pytest.raises(ImageError, match="no ink"):
        model.read_digits(Image.new("L", (300, 100), 240))


@pytest.mark.cli
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


@pytest.mark.cli
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


# Held-out numbers of the three kinds the reading issue names (tests/held_out.py; the
# benchmark uses seed 1, these tests other seeds). The floors sit a few points under what the
# shipped weights measure, to fail on a real regression rather than on sampling noise.


def _exact(model: DigitClassifier, items: list[Number], method: str = "auto") -> float:
    return float(
        np.mean([model.read_digits(n.picture, method=method).text == n.text for n in items])  # type: ignore[arg-type]
    )


@pytest.mark.slow  # a held-out set: on one Python (py311), as the other whole-set checks
def test_held_out_numbers_with_digits_apart(model: DigitClassifier) -> None:
    items = list(held_out_numbers("apart", 60, seed=11))
    assert _exact(model, items) >= 0.8


@pytest.mark.slow  # a held-out set: on one Python (py311), as the other whole-set checks
def test_held_out_touching_numbers_are_read_by_the_sequence_reader(
    model: DigitClassifier,
) -> None:
    items = list(held_out_numbers("touching", 60, seed=12))
    auto, segments = _exact(model, items), _exact(model, items, "segments")
    assert auto >= TOUCHING_FLOOR, (auto, segments)
    assert auto >= segments + 0.1, (auto, segments)


@pytest.mark.slow  # a held-out set: on one Python (py311), as the other whole-set checks
def test_held_out_postal_codes_in_printed_boxes(model: DigitClassifier) -> None:
    items = list(held_out_numbers("boxed", 60, seed=13))
    readings = [model.read_digits(n.picture) for n in items]
    assert np.mean([len(r.boxes) == 6 for r in readings]) >= 0.95
    exact = np.mean([r.text == n.text for r, n in zip(readings, items, strict=True)])
    assert exact >= 0.68, exact  # measured 0.75 (the isolated digits allow about 0.88)
    # In grey the print's colour is lost; the boxes are then found from their geometry alone,
    # as for a form printed in black, and read nearly as well (measured 0.73).
    grey = [model.read_digits(n.picture.convert("L")) for n in items]
    assert np.mean([len(r.boxes) == 6 for r in grey]) >= 0.8
    grey_exact = np.mean([r.text == n.text for r, n in zip(grey, items, strict=True)])
    assert grey_exact >= exact - 0.15, (grey_exact, exact)


@pytest.mark.slow  # a held-out set: on one Python (py311), as the other whole-set checks
def test_coloured_ruled_lines_through_the_digits_are_not_ink(model: DigitClassifier) -> None:
    right = plain_right = 0
    for index, item in enumerate(held_out_numbers("apart", 30, seed=14)):
        rgb = np.asarray(item.picture.convert("RGB"), np.float32)
        height = rgb.shape[0]
        colour = np.array([205, 45, 45] if index % 2 else [40, 150, 80], np.float32)
        for row in (height // 2 - 1, height // 2 + height // 4):  # ruled paper's lines
            paper = rgb[row : row + 3] > 150
            rgb[row : row + 3] = np.where(paper, colour, rgb[row : row + 3])  # under the ink
        picture = Image.fromarray(rgb.astype(np.uint8))
        reading = model.read_digits(picture)
        right += reading.text == item.text
        plain_right += model.read_digits(item.picture).text == item.text
        assert not reading.boxes  # lines are not boxes
    assert right >= 22 and right >= plain_right - 2, (right, plain_right)


@pytest.mark.cli
def test_cli_shows_the_boxes_it_found(tmp_path: Path) -> None:
    item = next(iter(held_out_numbers("boxed", 1, seed=15)))
    item.picture.save(tmp_path / "envelope.jpg", quality=95)
    picture = tmp_path / "envelope.jpg"
    result = cli("predict", "--digits", "--json", picture, "--show", tmp_path / "seen")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    reading = DigitClassifier.pretrained().read_digits(tmp_path / "envelope.jpg")
    assert row["text"] == reading.text and len(row["boxes"]) == len(reading.boxes) == 6
    assert row["probability"] == pytest.approx(reading.probability, abs=1e-6)
    assert [b["box"] for b in row["boxes"]] == [list(b.box) for b in reading.boxes]
    with Image.open(tmp_path / "seen" / "envelope_read.png") as drawn:
        pixels = np.asarray(drawn.convert("RGB")).astype(int)
    assert pixels.shape[:2] == (item.picture.height, item.picture.width)
    left, top, right, _ = reading.boxes[0].box
    edge = pixels[top, left : right - 1]  # the printed box's top edge is drawn in blue
    assert np.mean((edge[:, 2] > 180) & (edge[:, 0] < 60)) > 0.9
    text = cli("predict", "--digits", picture).stdout
    assert f": {reading.text} (p={reading.probability:.3f}; 6 digits in 6 printed boxes" in text
