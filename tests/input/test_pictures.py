"""Real pictures: photos, scans and drawings of real handwritten digits, through the public API."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import DigitClassifier, ImageError, MnistDataset

from ..pictures import canvas_drawing, jpeg, load_usps, photo_of


@pytest.fixture(scope="module")
def model() -> DigitClassifier:
    return DigitClassifier.pretrained()


@pytest.fixture(scope="module")
def digits(test_set: MnistDataset) -> tuple[np.ndarray, np.ndarray]:
    """200 MNIST test digits, spread over the set."""
    index = np.arange(0, 10_000, 50)
    return test_set.images[index], test_set.labels[index]


def accuracy(model: DigitClassifier, pictures: list[object], labels: np.ndarray) -> float:
    return float((model.predict(pictures) == labels).mean())  # type: ignore[arg-type]


def test_usps_envelope_digits(model: DigitClassifier) -> None:
    ink, labels = load_usps()
    scans = [Image.fromarray(255 - image) for image in ink]  # dark ink on white, 16x16
    assert accuracy(model, scans, labels) >= 0.975


def test_photos_of_digits_on_paper(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    rng = np.random.default_rng(0)
    photos = [photo_of(image, rng) for image in digits[0]]
    assert accuracy(model, photos, digits[1]) >= 0.98


def test_canvas_drawings_with_transparency(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    drawings = [canvas_drawing(image) for image in digits[0]]
    assert drawings[0].mode == "RGBA" and drawings[0].getpixel((0, 0))[3] == 0
    assert accuracy(model, drawings, digits[1]) >= 0.98


def test_white_ink_on_black_at_any_size_and_place(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    pictures = []
    for i, image in enumerate(digits[0]):
        canvas = Image.new("L", (400 + i, 300), 0)
        canvas.paste(Image.fromarray(image).resize((90, 90)), (i % 300, (7 * i) % 200))
        pictures.append(canvas)
    assert accuracy(model, pictures, digits[1]) >= 0.98


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I", "F", "CMYK"])
def test_every_pil_mode(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray], mode: str
) -> None:
    pictures = []
    for image in digits[0][:40]:
        paper = Image.fromarray(255 - image).resize((84, 84), Image.Resampling.BICUBIC)
        if mode == "I;16":
            converted = Image.fromarray(np.asarray(paper, np.uint16) * 257)
        else:
            converted = paper.convert(mode)
        pictures.append(converted)
    assert pictures[0].mode == mode
    assert accuracy(model, pictures, digits[1][:40]) >= 0.95


def test_exif_orientation_is_applied(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    hits = 0
    for i, image in enumerate(digits[0][:30]):
        upright = Image.fromarray(255 - image).resize((112, 112)).convert("RGB")
        stored = upright.transpose(Image.Transpose.ROTATE_90)  # as the camera stored it
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
        stored.save(tmp_path / f"{i}.jpg", exif=exif, quality=95)
        hits += int(model.predict(tmp_path / f"{i}.jpg")[0] == digits[1][i])
    assert hits >= 29


def test_preprocess_shows_mnist_form(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    photo = photo_of(digits[0][0], np.random.default_rng(1))
    pixels = model.preprocess(photo)
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    rows, cols = np.nonzero(pixels > 30)
    assert rows.max() - rows.min() <= 21 and cols.max() - cols.min() <= 21  # fitted in 20x20
    mass = pixels.astype(float) / pixels.sum()
    centre = (np.arange(28) @ mass.sum(axis=1), np.arange(28) @ mass.sum(axis=0))
    assert abs(centre[0] - 13.5) <= 1 and abs(centre[1] - 13.5) <= 1
    assert pixels[0].max() == 0 and pixels[:, 0].max() == 0  # black border, light ink
    # MNIST-style input passes untouched unless asked otherwise.
    assert np.array_equal(model.preprocess(digits[0][3]), digits[0][3])
    assert not np.array_equal(model.preprocess(digits[0][3], preprocess="normalize"), digits[0][3])


def test_dark_on_white_28x28_arrays_are_normalised(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    inverted = 255 - digits[0]
    assert float((model.predict(inverted) == digits[1]).mean()) >= 0.97
    raw = model.predict(inverted, preprocess="raw")
    assert float((raw == digits[1]).mean()) < 0.5  # taken as is, it is nonsense to the model


def test_bad_pictures_raise_typed_errors_naming_the_file(
    model: DigitClassifier, tmp_path: Path
) -> None:
    cases = {
        "text.png": b"this is not a picture",
        "empty.jpg": b"",
        "cut.png": _png(Image.new("L", (64, 64), 128))[:40],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ImageError, match=rf"{name}: not a readable image"):
            model.predict(tmp_path / name)
    Image.new("L", (300, 200), 230).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="no ink"):
        model.predict(tmp_path / "blank.png")
    with pytest.raises(ImageError, match=r"the image is empty \(0x0 pixels\)"):
        model.predict(Image.new("L", (0, 0)))
    with pytest.raises(ImageError, match="no such file"):
        model.predict(tmp_path / "missing.png")


def test_decompression_bomb_is_refused(model: DigitClassifier, tmp_path: Path) -> None:
    for side in (9_000, 14_000):  # 81 million pixels (over our cap), 196 million (Pillow's too)
        Image.new("1", (side, side), 1).save(tmp_path / f"bomb{side}.png")
        with pytest.raises(
            ImageError, match=f"bomb{side}.png: .*(over the limit|decompression bomb)"
        ):
            model.predict(tmp_path / f"bomb{side}.png")


def test_one_bad_file_in_a_batch_names_itself(
    model: DigitClassifier, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    Image.fromarray(digits[0][0]).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ImageError, match=r"bad\.png"):
        model.predict([tmp_path / "good.png", tmp_path / "bad.png"])


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_jpeg_noise_helper_really_compresses() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8))
    assert jpeg(image, quality=50).format == "JPEG"
