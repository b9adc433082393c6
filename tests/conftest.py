"""Shared fixtures: the real MNIST files, one short real training run, the tutorial's own files."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mnistcnn
from mnistcnn import DigitClassifier, MnistDataset

TESTS = Path(__file__).parent


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write a uint8 array as an IDX file, as the MNIST files are made."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = struct.pack(f">BBBB{array.ndim}I", 0, 0, 8, array.ndim, *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def run_python(
    *args: str | os.PathLike[str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a Python process with this interpreter; fail the test with its output if it fails."""
    result = subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def cli(
    *args: str | os.PathLike[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mnistcnn ARGS`` as a user would; ``env`` entries override the environment."""
    return subprocess.run(
        [sys.executable, "-m", "mnistcnn", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    value = os.environ.get("MNISTCNN_DATA")
    if not value or not Path(value, "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail(
            "set MNISTCNN_DATA to the directory of the four MNIST files "
            "(../shared/datasets/mnist from the project root); the integration tests need them."
        )
    return Path(value).resolve()


@pytest.fixture(scope="session")
def train_set(mnist_dir: Path) -> MnistDataset:
    return mnistcnn.load_data("train", root=mnist_dir, download=False)


@pytest.fixture(scope="session")
def test_set(mnist_dir: Path) -> MnistDataset:
    return mnistcnn.load_data("test", root=mnist_dir, download=False)


@pytest.fixture(scope="session")
def trained(train_set: MnistDataset) -> tuple[object, mnistcnn.History]:
    """The tutorial network trained for one epoch on the first 4,000 training images (about
    93% on the test set: a network that has learned, in a few seconds)."""
    network = mnistcnn.build_model("tutorial", seed=0)
    history = mnistcnn.train(
        network,
        (train_set.images[:4000], train_set.labels[:4000]),
        epochs=1,
        seed=0,
        progress=False,
    )
    return network, history


@pytest.fixture(scope="session")
def saved_model(
    trained: tuple[object, mnistcnn.History], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The trained network saved in both formats; returns the path prefix."""
    prefix = tmp_path_factory.mktemp("saved") / "model"
    mnistcnn.save(trained[0], prefix, format="both")  # type: ignore[arg-type]
    return prefix


@pytest.fixture(scope="session")
def tutorial_files(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files written by the tutorial's own code (hapi fit on 1,280 images, then model.save)."""
    out = tmp_path_factory.mktemp("tutorial")
    run_python(TESTS / "tutorial_reference.py", "train", out, "1280")
    return out


@pytest.fixture
def classifier(saved_model: Path) -> DigitClassifier:
    return DigitClassifier.load(saved_model, backend="static")
