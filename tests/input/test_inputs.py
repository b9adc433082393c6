"""The one input path: every accepted form, the one MNIST-form test, streaming, typed errors."""

from __future__ import annotations

import contextlib
import io
import itertools
import struct
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import paddle
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from mnistcnn import (
    DigitClassifier,
    ImageError,
    ImageNotFoundError,
    ImageTypeError,
    MnistCnnError,
    MnistDataset,
    to_model_input,
)
from mnistcnn._input._inputs import is_mnist_form
from mnistcnn._input._pictures import MAX_PIXELS
from mnistcnn._input._preprocess import unit_pixels

from ..pictures import load_usps, photo_of


@pytest.fixture(scope="module")
def model() -> DigitClassifier:
    return DigitClassifier.pretrained()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _upscaled_usps() -> tuple[np.ndarray, np.ndarray]:
    """USPS envelope scans (16x16, the digit filling the frame) upscaled to 28x28, light ink."""
    ink, labels = load_usps()
    big = [Image.fromarray(x).resize((28, 28), Image.Resampling.BILINEAR) for x in ink]
    return np.stack([np.asarray(image) for image in big]), labels


# --- the one MNIST-form test ---------------------------------------------------------------


class _Peak:
    bytes = 0


@contextlib.contextmanager
def _peak_allocation() -> Iterator[_Peak]:
    """The most memory Python allocated while the body ran (tracemalloc's peak)."""
    peak = _Peak()
    tracemalloc.start()
    try:
        yield peak
        peak.bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_every_mnist_training_digit_is_in_mnist_form(train_set: MnistDataset) -> None:
    assert is_mnist_form(unit_pixels(train_set.images)).all()


def test_upscaled_scans_and_misplaced_digits_are_not(train_set: MnistDataset) -> None:
    scans, _ = _upscaled_usps()
    assert not is_mnist_form(unit_pixels(scans)).any()  # light ink on black, filling the frame
    assert not is_mnist_form(unit_pixels(255 - scans)).any()  # dark ink on white
    digits = train_set.images[:200]
    in_corner = np.zeros_like(digits)
    in_corner[:, :20, :20] = digits[:, 4:24, 4:24]
    small = np.stack([np.pad(np.asarray(Image.fromarray(d).resize((10, 10))), 9) for d in digits])
    for misplaced in (255 - digits, in_corner, small):
        assert not is_mnist_form(unit_pixels(misplaced)).any()
    assert is_mnist_form(np.zeros((1, 28, 28), np.float32)).all()  # blank: nothing to normalise


def test_one_image_and_a_batch_are_judged_alike(train_set: MnistDataset) -> None:
    scans, _ = _upscaled_usps()
    rng = np.random.default_rng(0)
    shifted = np.roll(train_set.images[:300], rng.integers(-4, 5, 2), axis=(1, 2))
    unit = unit_pixels(np.concatenate([train_set.images[:300], scans[:300], shifted]))
    batch = is_mnist_form(unit)
    assert 0 < batch.sum() < len(batch)  # both answers occur
    assert all(is_mnist_form(unit[i : i + 1])[0] == batch[i] for i in range(len(unit)))


def test_auto_normalises_upscaled_scans_and_keeps_mnist_digits(
    model: DigitClassifier, test_set: MnistDataset
) -> None:
    scans, labels = _upscaled_usps()
    auto = model.predict_proba(scans[:200])
    assert np.array_equal(auto, model.predict_proba(scans[:200], preprocess="normalize"))
    assert (auto.argmax(axis=1) == labels[:200]).mean() >= 0.95
    digits = test_set.images[:64]
    kept = model.predict_proba(digits, preprocess="raw")
    assert np.array_equal(model.predict_proba(digits), kept)


# --- the caller's data ----------------------------------------------------------------------


def test_never_writes_into_the_callers_data(
    model: DigitClassifier, test_set: MnistDataset, tmp_path: Path
) -> None:
    dark_on_white = 1 - test_set.images[:10].astype(np.float32) / 255  # normalised by "auto"
    before = dark_on_white.copy()
    labels = model.predict(dark_on_white)
    assert np.array_equal(dark_on_white, before)
    assert (labels == test_set.labels[:10]).mean() >= 0.9
    model.predict(dark_on_white[0])
    model.preprocess(dark_on_white[0])
    assert np.array_equal(dark_on_white, before)
    batch = to_model_input(before)
    batch[:] = 0.5
    assert np.array_equal(dark_on_white, before)  # to_model_input always returns a new array

    frozen = test_set.images[:10].copy()
    frozen.flags.writeable = False
    np.save(tmp_path / "digits.npy", frozen)
    mapped = np.load(tmp_path / "digits.npy", mmap_mode="r")
    expected = model.predict_proba(test_set.images[:10])
    assert np.array_equal(model.predict_proba(frozen), expected)
    assert np.array_equal(model.predict_proba(mapped), expected)


# --- every form of the same picture gives the same answer ---------------------------------


def _forms(encoded: bytes, path: Path, file: io.BufferedReader) -> dict[str, object]:
    return {
        "array": np.asarray(Image.open(io.BytesIO(encoded))),
        "PIL image": Image.open(io.BytesIO(encoded)),
        "str path": str(path),
        "Path": path,
        "bytes": encoded,
        "bytearray": bytearray(encoded),
        "memoryview": memoryview(encoded),
        "BytesIO": io.BytesIO(encoded),
        "open file": file,
        "list": [encoded],
        "tuple": (path,),
        "generator": (item for item in [io.BytesIO(encoded)]),
    }


@pytest.mark.parametrize("kind", ["mnist digit", "dark digit on white", "photo"])
def test_the_same_picture_in_every_form_gives_identical_probabilities(
    model: DigitClassifier, test_set: MnistDataset, tmp_path: Path, kind: str
) -> None:
    digit = test_set.images[7]
    if kind == "mnist digit":
        picture = Image.fromarray(digit)
        encoded = _png(picture)
    elif kind == "dark digit on white":
        picture = Image.fromarray(255 - digit)
        encoded = _png(picture)
    else:
        buffer = io.BytesIO()
        photo_of(digit, np.random.default_rng(3)).save(buffer, format="JPEG", quality=85)
        encoded = buffer.getvalue()
        picture = Image.open(io.BytesIO(encoded))
    path = tmp_path / "picture.img"
    path.write_bytes(encoded)
    with path.open("rb") as file:
        forms = _forms(encoded, path, file)
        expected = model.predict_proba(forms.pop("array"))
        assert expected.argmax() == test_set.labels[7]
        for name, form in forms.items():
            got = model.predict_proba(form)  # type: ignore[arg-type]
            assert np.array_equal(got, expected), name
    seen = model.preprocess(np.asarray(picture))
    assert np.array_equal(model.preprocess(encoded), seen)
    assert np.array_equal(model.preprocess(tmp_path / "picture.img"), seen)
    if kind == "mnist digit":
        assert np.array_equal(seen, digit)  # MNIST form passes untouched


def test_every_array_layout(model: DigitClassifier, test_set: MnistDataset) -> None:
    digits = test_set.images[:4]
    expected = model.predict_proba(digits)
    assert np.array_equal(model.predict_proba(digits[:, None]), expected)
    assert np.array_equal(model.predict_proba(list(digits)), expected)
    assert np.array_equal(model.predict_proba(digits[0][None, None]), expected[:1])
    colour = np.repeat(digits[..., None], 3, axis=-1)  # (n, 28, 28, 3): grey in RGB
    assert np.array_equal(model.predict_proba(colour), expected)
    assert np.array_equal(model.predict_proba(colour[0]), expected[:1])
    assert np.array_equal(model.predict_proba(digits[0][..., None]), expected[:1])
    pictures = np.stack([np.asarray(Image.fromarray(d).resize((56, 56))) for d in digits])
    assert (model.predict(pictures) == test_set.labels[:4]).all()  # (n, H, W) of another size
    assert model.predict_proba(np.empty((0, 28, 28), np.uint8)).shape == (0, 10)
    assert model.predict_proba(iter([])).shape == (0, 10)


# --- streaming -----------------------------------------------------------------------------


class _Counting(paddle.nn.Layer):
    """A real (linear) network that records, at each call, how many items had been taken."""

    def __init__(self, taken: list[int]) -> None:
        super().__init__()
        self.linear = paddle.nn.Linear(784, 10)
        self.taken = taken
        self.seen_at_call: list[int] = []

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        self.seen_at_call.append(len(self.taken))
        return self.linear(x.reshape([x.shape[0], 784]))


def test_an_iterator_is_consumed_one_batch_at_a_time(test_set: MnistDataset) -> None:
    taken: list[int] = []
    network = _Counting(taken)

    def pictures() -> Iterator[bytes]:
        for i in range(250):
            taken.append(i)
            yield _png(Image.fromarray(test_set.images[i]))

    probabilities = DigitClassifier(network).predict_proba(pictures(), batch_size=32)
    assert probabilities.shape == (250, 10)
    assert network.seen_at_call == [32 * k for k in range(1, 8)] + [250]
    expected = DigitClassifier(network).predict_proba(test_set.images[:250], batch_size=32)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6, atol=1e-7)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (7, ImageTypeError, "cannot read images from int"),
        ({"a": 1}, ImageTypeError, "cannot read images from a dict"),
        ({b"x"}, ImageTypeError, "cannot read images from a set"),
        (np.array([None, None]), ImageTypeError, "unsupported pixel type object.*pass a list"),
        (np.full((28, 28), "a"), ImageTypeError, "unsupported pixel type <U1"),
        (np.zeros((28, 28), np.complex64), ImageTypeError, "unsupported pixel type complex64"),
        ([np.zeros((28, 28)), 3], ImageTypeError, r"images\[1\]: cannot read an image from int"),
        ([[0, 1], [1, 0]], ImageTypeError, r"images\[0\]: .*from list.*np\.asarray"),
        (np.float32(0.5), ImageError, r"shape \(\) holds no images"),
        (np.zeros(784), ImageError, r"shape \(784,\) holds no images"),
        (np.zeros((1, 1, 1, 28, 28)), ImageError, r"shape \(1, 1, 1, 28, 28\) holds no images"),
        (np.zeros((0, 5)), ImageError, r"the image is empty \(5x0 pixels\)"),
        (np.full((28, 28), np.inf), ImageError, "NaN or infinity"),
        (np.full((28, 28), 1e300), ImageError, r"values in \[1e\+300, 1e\+300\]"),
        (np.full((28, 28), -3, np.int8), ImageError, r"values in \[-3, -3\]"),
        (np.full((5, 40, 40), 65535, np.uint16), ImageError, r"images\[0\]: integer images"),
        (b"not a picture", ImageError, "not a readable image"),
        (io.StringIO("text"), ImageTypeError, "text mode; open the file with 'rb'"),
    ],
)
def test_unusable_input_raises_a_typed_error_naming_it(
    model: DigitClassifier, images: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        model.predict(images)  # type: ignore[arg-type]
    assert isinstance(raised.value, MnistCnnError)
    if error is ImageTypeError:
        assert isinstance(raised.value, TypeError)
    else:
        assert isinstance(raised.value, ValueError)


def test_a_bad_image_in_a_stack_or_list_is_named(
    model: DigitClassifier, test_set: MnistDataset, tmp_path: Path
) -> None:
    stack = test_set.images[:100] / 255.0
    stack[70, 3, 3] = np.nan
    with pytest.raises(ImageError, match=r"^images\[70\]: float images .* NaN"):
        model.predict(stack, batch_size=32)
    Image.fromarray(test_set.images[0]).save(tmp_path / "good.png")
    with pytest.raises(ImageNotFoundError, match=r"^images\[1\]: .*gone\.png: no such file"):
        model.predict([tmp_path / "good.png", tmp_path / "gone.png"])
    with pytest.raises(ImageError, match=r"^images\[2\]: not a readable image"):
        model.predict(iter([tmp_path / "good.png", tmp_path / "good.png", b"\x89PNG junk"]))
    with pytest.raises(ImageError, match=r"not a file \(a directory\?\)"):
        model.predict(tmp_path)
    with pytest.raises(ImageError, match=r"^images\[1\]: the picture holds no ink"):
        model.predict(np.stack([test_set.images[0], np.full((28, 28), 255, np.uint8)]))


def test_huge_shapes_are_refused_before_anything_is_allocated(model: DigitClassifier) -> None:
    huge_picture = np.broadcast_to(np.uint8(0), (200_000, 200_000))  # no memory behind it
    too_many = np.broadcast_to(np.zeros((28, 28), np.uint8), (10**14, 28, 28))
    with _peak_allocation() as peak:
        with pytest.raises(ImageError, match="over the limit of 64,000,000 pixels"):
            model.predict(huge_picture)
        with pytest.raises(ImageError, match="over the limit"):
            model.predict(np.broadcast_to(np.uint8(0), (3, 9000, 9000, 3)))
        with pytest.raises(ImageError, match="more than this machine's memory"):
            model.predict(too_many)
    assert peak.bytes < 1_000_000


def test_bad_options_are_refused(model: DigitClassifier, test_set: MnistDataset) -> None:
    with pytest.raises(ValueError, match=r"preprocess must be one of \['auto', 'normalize'"):
        model.predict(test_set.images[0], preprocess="clean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"preprocess must be one of"):
        model.preprocess(test_set.images[0], preprocess="clean")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batch_size must be an int; got float"):
        model.predict(test_set.images[:3], batch_size=2.5)  # type: ignore[arg-type]


class _CountingReader(io.BytesIO):
    """A file object that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def test_large_files_and_slow_decoders_are_bounded(model: DigitClassifier) -> None:
    nothing = _CountingReader(b"\x00" * 50_000_000)  # 50 MB that no decoder recognises
    with _peak_allocation() as peak, pytest.raises(ImageError, match="not a readable image"):
        model.predict(nothing)
    assert peak.bytes < 60_000_000  # at most one copy of what was read: never decoded into pixels


# --- anything at all: a result or an MnistCnnError, quickly and in bounded memory ----------

_FUZZ = settings(
    max_examples=60,
    deadline=3000,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_SHAPES = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5),
    st.sampled_from([(28, 28), (3, 28, 28), (2, 1, 28, 28), (28, 28, 3), (2, 40, 30), (9, 9, 4)]),
)
_DTYPES = st.one_of(
    hnp.scalar_dtypes(),
    hnp.byte_string_dtypes(),
    hnp.unicode_string_dtypes(),
    st.just(np.dtype(object)),
)


def _check_outcome(model: DigitClassifier, images: object) -> np.ndarray | MnistCnnError:
    """Predict; only a proper result or an MnistCnnError may come out."""
    try:
        result = model.predict_proba(images)  # type: ignore[arg-type]
    except MnistCnnError as exc:
        return exc
    assert result.ndim == 2 and result.shape[1] == 10 and result.dtype == np.float32
    assert np.isfinite(result).all()
    np.testing.assert_allclose(result.sum(axis=1), 1.0, atol=1e-4)
    return result


@_FUZZ
@given(data=st.data(), dtype=_DTYPES, shape=_SHAPES)
def test_any_array_gives_a_result_or_a_typed_error(
    model: DigitClassifier, data: st.DataObject, dtype: np.dtype, shape: tuple[int, ...]
) -> None:
    elements = st.one_of(st.none(), st.integers(), st.text()) if dtype.kind == "O" else None
    array = data.draw(hnp.arrays(dtype, shape, elements=elements))
    before = array.copy()
    outcome = _check_outcome(model, array)
    if dtype.kind not in "biuf":
        assert isinstance(outcome, ImageTypeError)
    elif dtype == np.uint8 and shape in ((28, 28), (3, 28, 28), (2, 1, 28, 28)):
        # MNIST-shaped bytes are always usable, unless "auto" finds a picture with no ink.
        assert not isinstance(outcome, Exception) or "no ink" in str(outcome)
    if isinstance(outcome, np.ndarray) and array.ndim == 3 and array.shape[-1] not in (3, 4):
        assert len(outcome) == array.shape[0]
    np.testing.assert_array_equal(array, before)  # never written into


@_FUZZ
@given(
    pictures=st.integers(1, 3),
    height=st.integers(1, 10**6),
    width=st.integers(1, 10**6),
    channels=st.sampled_from([(), (3,)]),
)
def test_huge_pictures_are_refused_before_allocating(
    model: DigitClassifier, pictures: int, height: int, width: int, channels: tuple[int, ...]
) -> None:
    assume(height * width > MAX_PIXELS)
    shape = (pictures, height, width, *channels) if pictures > 1 else (height, width, *channels)
    huge = np.broadcast_to(np.uint8(0), shape)  # takes no memory until someone copies it
    with _peak_allocation() as peak, pytest.raises(ImageError, match="over the limit"):
        model.predict_proba(huge)
    assert peak.bytes < 1_000_000


def _encoded_digits(test_set: MnistDataset) -> list[bytes]:
    pictures = [Image.fromarray(test_set.images[0]), Image.fromarray(255 - test_set.images[1])]
    encoded = []
    for picture, fmt in itertools.product(pictures, ["PNG", "JPEG", "GIF", "BMP", "TIFF"]):
        buffer = io.BytesIO()
        picture.resize((40, 40)).save(buffer, format=fmt)
        encoded.append(buffer.getvalue())
    return encoded


@_FUZZ
@given(data=st.data())
def test_random_truncated_and_damaged_files_give_a_result_or_an_image_error(
    model: DigitClassifier, test_set: MnistDataset, data: st.DataObject
) -> None:
    sources = _encoded_digits(test_set)
    source = data.draw(st.sampled_from(sources))
    damage = data.draw(st.sampled_from(["random", "truncated", "flipped"]))
    if damage == "random":
        encoded = data.draw(st.binary(max_size=2000))
    elif damage == "truncated":
        encoded = source[: data.draw(st.integers(0, len(source) - 1))]
    else:
        flipped = bytearray(source)
        for index in data.draw(st.lists(st.integers(0, len(source) - 1), min_size=1, max_size=8)):
            flipped[index] ^= data.draw(st.integers(1, 255))
        encoded = bytes(flipped)
    outcome = _check_outcome(model, encoded)
    assert not isinstance(outcome, Exception) or isinstance(outcome, ImageError)
    again = _check_outcome(model, io.BytesIO(encoded))  # a file object: the same outcome
    if isinstance(outcome, np.ndarray):
        assert isinstance(again, np.ndarray) and np.array_equal(outcome, again)
    else:
        assert type(again) is type(outcome)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


@_FUZZ
@given(width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1))
def test_decompression_bombs_are_refused(model: DigitClassifier, width: int, height: int) -> None:
    assume(width * height > MAX_PIXELS)
    bomb = r"decompression bomb|over the limit"
    with _peak_allocation() as peak, pytest.raises(ImageError, match=bomb):
        model.predict(_png_declaring(width, height))
    assert peak.bytes < 10_000_000  # refused from its header: no pixel buffer was allocated


def test_a_tiny_png_declaring_ten_billion_pixels(model: DigitClassifier, tmp_path: Path) -> None:
    bomb = _png_declaring(100_000, 100_000)
    assert len(bomb) < 100
    (tmp_path / "bomb.png").write_bytes(bomb)
    for form in (bomb, io.BytesIO(bomb), tmp_path / "bomb.png"):
        with pytest.raises(ImageError, match="decompression bomb"):
            model.predict(form)  # type: ignore[arg-type]


def test_a_lone_pixel_of_ink_is_no_digit() -> None:
    """Found by the property-based test above: it once raised a bare ValueError."""
    lone = np.zeros((28, 28), dtype=bool)
    lone[0, 0] = True
    with pytest.raises(ImageError, match="no ink but specks of single pixels"):
        DigitClassifier.pretrained().predict(lone)
