from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest

from mnistcnn import DatasetCorruptError, DatasetNotFoundError, MnistDataset, load_data
from mnistcnn._data._idx import read_bytes

from ..conftest import write_idx

NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No MNISTCNN_DATA and an empty cache, so only what a test sets up is found."""
    monkeypatch.delenv("MNISTCNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def small_split(directory: Path, *, n: int = 12, compress: bool = True, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    write_idx(
        directory / f"t10k-images-idx3-ubyte{suffix}",
        rng.integers(0, 256, (n, 28, 28)),
        compress=compress,
    )
    write_idx(
        directory / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n), compress=compress
    )


def test_real_splits_have_the_published_shapes(
    train_set: MnistDataset, test_set: MnistDataset
) -> None:
    assert train_set.images.shape == (60_000, 28, 28) and train_set.images.dtype == np.uint8
    assert train_set.labels.shape == (60_000,) and train_set.labels.dtype == np.int64
    assert test_set.images.shape == (10_000, 28, 28)
    assert train_set.labels[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert np.bincount(test_set.labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_items_match_paddle_vision_mnist(mnist_dir: Path, test_set: MnistDataset) -> None:
    reference = paddle.vision.datasets.MNIST(
        image_path=str(mnist_dir / "t10k-images-idx3-ubyte.gz"),
        label_path=str(mnist_dir / "t10k-labels-idx1-ubyte.gz"),
        mode="test",
        transform=paddle.vision.transforms.ToTensor(),
        download=False,
    )
    for index in (0, 1234, 9999):
        image, label = test_set[index]
        ref_image, ref_label = reference[index]
        assert image.shape == (1, 28, 28) and image.dtype == np.float32
        np.testing.assert_allclose(image, ref_image.numpy(), atol=1e-7)
        assert label.tolist() == np.asarray(ref_label).tolist()


def test_works_with_paddle_dataloader(test_set: MnistDataset) -> None:
    loader = paddle.io.DataLoader(test_set, batch_size=32, shuffle=False)
    images, labels = next(iter(loader))
    assert images.shape == [32, 1, 28, 28]
    assert labels.shape == [32, 1]
    assert labels.numpy().ravel().tolist() == test_set.labels[:32].tolist()


def test_reads_uncompressed_files_without_verification(isolated: Path) -> None:
    small_split(isolated / "d", compress=False)
    data = load_data("test", root=isolated / "d", verify=False, download=False)
    assert data.images.shape == (12, 28, 28)
    assert data.split == "test"


def test_unverified_files_are_refused_by_default(isolated: Path) -> None:
    small_split(isolated / "d")
    with pytest.raises(
        DatasetCorruptError, match="not the published t10k-images-idx3-ubyte"
    ) as info:
        load_data("test", root=isolated / "d", download=False)
    assert str(isolated / "d") in str(info.value)


def test_search_order_is_root_then_environment_then_cache(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_split(isolated / "root", n=3, seed=1)
    small_split(isolated / "env", n=4, seed=2)
    small_split(isolated / "cache" / "mnistcnn", n=5, seed=3)
    monkeypatch.setenv("MNISTCNN_DATA", str(isolated / "env"))
    assert len(load_data("test", root=isolated / "root", verify=False, download=False)) == 3
    assert len(load_data("test", verify=False, download=False)) == 4
    monkeypatch.delenv("MNISTCNN_DATA")
    assert len(load_data("test", verify=False, download=False)) == 5


def test_missing_files_error_names_files_directories_and_variable(isolated: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_data("train", root=isolated / "nowhere", download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert str(isolated / "nowhere") in message
    assert str(isolated / "cache" / "mnistcnn") in message
    assert "MNISTCNN_DATA" in message
    assert isinstance(info.value, FileNotFoundError)


def test_mismatched_counts_are_reported(isolated: Path) -> None:
    small_split(isolated / "d", n=12)
    write_idx(isolated / "d" / "t10k-labels-idx1-ubyte.gz", np.zeros(11), compress=True)
    with pytest.raises(DatasetCorruptError, match=r"12 images but .* 11 labels"):
        load_data("test", root=isolated / "d", verify=False, download=False)


def test_wrong_image_size_and_bad_labels_are_reported(isolated: Path) -> None:
    d = isolated / "d"
    small_split(d)
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((12, 32, 32)), compress=True)
    with pytest.raises(DatasetCorruptError, match="32x32, expected 28x28"):
        load_data("test", root=d, verify=False, download=False)
    small_split(d)
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.full(12, 10), compress=True)
    with pytest.raises(DatasetCorruptError, match="label 10 is not a digit"):
        load_data("test", root=d, verify=False, download=False)


def test_truncated_real_file_is_never_used(isolated: Path, mnist_dir: Path) -> None:
    d = isolated / "d"
    d.mkdir()
    shutil.copy(mnist_dir / "t10k-labels-idx1-ubyte.gz", d)
    raw = read_bytes(mnist_dir / "t10k-images-idx3-ubyte.gz")
    (d / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(DatasetCorruptError, match="t10k-images-idx3-ubyte") as info:
        load_data("test", root=d, download=False)
    assert isinstance(info.value, ValueError)


def test_unknown_split_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test'\]; got 'valid'"):
        load_data("valid")  # type: ignore[arg-type]


def test_dataset_validates_arrays() -> None:
    with pytest.raises(ValueError, match="uint8 of shape"):
        MnistDataset(np.zeros((2, 28, 28), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="labels must have shape"):
        MnistDataset(np.zeros((2, 28, 28), np.uint8), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="from 0 to 9"):
        MnistDataset(np.zeros((2, 28, 28), np.uint8), np.array([0, 12]))


@pytest.mark.slow
def test_works_with_paddle_model_fit(train_set: MnistDataset, test_set: MnistDataset) -> None:
    """Our dataset feeds the tutorial's own hapi loop, and that loop learns from it."""
    from ..tutorial_reference import tutorial_network

    paddle.seed(0)
    model = paddle.Model(tutorial_network())
    model.prepare(
        paddle.optimizer.Adam(parameters=model.parameters()),
        paddle.nn.CrossEntropyLoss(),
        paddle.metric.Accuracy(),
    )
    held_out = MnistDataset(test_set.images[:1000], test_set.labels[:1000])
    before = model.evaluate(held_out, batch_size=250, verbose=0)["acc"]
    model.fit(
        MnistDataset(train_set.images[:3000], train_set.labels[:3000]), batch_size=64, verbose=0
    )
    after = model.evaluate(held_out, batch_size=250, verbose=0)["acc"]
    assert before < 0.3 and after > 0.5, (before, after)  # 0.06 -> 0.71 here (double softmax)
