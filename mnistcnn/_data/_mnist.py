"""The MNIST database: where its files are looked for, how they are checked and loaded."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import paddle

from .._choices import Split
from .._errors import DatasetCorruptError, DatasetNotFoundError
from .._input._preprocess import IMAGE_SIZE, to_model_input
from . import _idx
from ._download import DownloadError, download_verified

__all__ = ["DEFAULT_MIRRORS", "MnistDataset", "Split", "default_cache_dir", "load_data"]

logger = logging.getLogger(__name__)

_SPLITS: tuple[Split, ...] = get_args(Split)

DATA_ENV = "MNISTCNN_DATA"
MIRRORS_ENV = "MNISTCNN_MIRRORS"

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://dataset.bj.bcebos.com/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
"""Where MNIST is downloaded from, tried in order. Override with ``mirrors=`` or the
``MNISTCNN_MIRRORS`` environment variable (space-separated base URLs)."""


@dataclass(frozen=True)
class _IdxFile:
    name: str
    raw_sha256: str
    count: int


# SHA-256 of the *decompressed* files: the same whichever mirror or gzip tool produced the .gz.
_FILES: dict[Split, tuple[_IdxFile, _IdxFile]] = {
    "train": (
        _IdxFile(
            "train-images-idx3-ubyte",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            60_000,
        ),
        _IdxFile(
            "train-labels-idx1-ubyte",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            60_000,
        ),
    ),
    "test": (
        _IdxFile(
            "t10k-images-idx3-ubyte",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            10_000,
        ),
        _IdxFile(
            "t10k-labels-idx1-ubyte",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            10_000,
        ),
    ),
}


class MnistDataset(paddle.io.Dataset):  # type: ignore[type-arg]
    """Digit images and their labels, held in memory as two arrays.

    Works with :class:`paddle.io.DataLoader` and :meth:`paddle.Model.fit`: item ``i`` is the
    float32 image of shape (1, 28, 28) the network sees and the label as int64 of shape (1,),
    as :class:`paddle.vision.datasets.MNIST` gives with ``ToTensor``. :func:`mnistcnn.train`
    does not go through items: it slices :attr:`images` in whole batches.

    Attributes:
        images: uint8 array of shape (n, 28, 28), light ink on a dark background.
        labels: int64 array of shape (n,), values 0-9.
        split: ``"train"``, ``"test"``, or ``None`` for data that did not come from MNIST files.
    """

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, *, split: Split | None = None
    ) -> None:
        super().__init__()
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(
                f"images must be uint8 of shape (n, 28, 28); got {images.dtype} {images.shape}."
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"labels must have shape ({len(images)},) to match the images; got {labels.shape}."
            )
        if not np.issubdtype(labels.dtype, np.integer) or (
            labels.size and (labels.min() < 0 or labels.max() > 9)
        ):
            raise ValueError("labels must be integers from 0 to 9.")
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        self.split = split

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return to_model_input(self.images[index])[0], self.labels[index : index + 1]

    def __repr__(self) -> str:
        return f"MnistDataset(split={self.split!r}, n={len(self)})"


def default_cache_dir() -> Path:
    """The per-user directory downloads go to when neither ``root`` nor MNISTCNN_DATA is set.

    ``%LOCALAPPDATA%\\mnistcnn`` on Windows, ``~/Library/Caches/mnistcnn`` on macOS and
    ``$XDG_CACHE_HOME/mnistcnn`` (default ``~/.cache/mnistcnn``) elsewhere.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mnistcnn"


def load_data(
    split: Split = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    verify: bool = True,
    progress: bool = True,
) -> MnistDataset:
    """Load one split of MNIST from its original IDX files.

    The files (``train-images-idx3-ubyte`` etc., gzip-compressed or not) are looked for in
    ``root``, then in the directory named by the ``MNISTCNN_DATA`` environment variable, then in
    :func:`default_cache_dir`. If none has them and ``download`` is true, they are downloaded
    into the first of those directories that is set, from :data:`DEFAULT_MIRRORS`.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        root: a directory to look in first.
        download: download missing files.
        mirrors: base URLs to download from, tried in order (default: ``MNISTCNN_MIRRORS``,
            then :data:`DEFAULT_MIRRORS`).
        verify: check the SHA-256 of each file's decompressed content against the published
            MNIST digests. Turn off only to read other IDX data with MNIST's file names.
        progress: show a progress bar while downloading.

    Returns:
        The split, with ``images`` of shape (n, 28, 28) uint8 and ``labels`` of shape (n,).

    Raises:
        ValueError: ``split`` is not ``"train"`` or ``"test"``.
        DatasetNotFoundError: the files are nowhere and could not be downloaded.
        DatasetCorruptError: a file is truncated, malformed, or not the published file.

    Examples:
        >>> test = load_data("test")
        >>> test.images.shape, test.labels[:5].tolist()
        ((10000, 28, 28), [7, 2, 1, 0, 4])
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {list(_SPLITS)}; got {split!r}.")
    candidates = _search_dirs(root)
    image_file, label_file = _FILES[split]
    paths = _find_files(candidates, (image_file, label_file))
    if paths is None:
        if not download or not candidates:
            raise DatasetNotFoundError(_not_found_message(split, candidates, download, []))
        target = candidates[0]
        failures: list[str] = []
        found = _find_files([target], (image_file,)), _find_files([target], (label_file,))
        paths_list: list[Path] = []
        for idx_file, present in zip((image_file, label_file), found, strict=True):
            if present is not None:
                paths_list.append(present[0])
                continue
            try:
                paths_list.append(
                    download_verified(
                        idx_file.name + ".gz",
                        raw_sha256=idx_file.raw_sha256,
                        target_dir=target,
                        mirrors=_mirrors(mirrors),
                        progress=progress,
                    )
                )
            except DownloadError as exc:
                failures.extend(exc.attempts)
            except OSError as exc:
                failures.append(f"cannot write to {target}: {exc}")
        if failures:
            raise DatasetNotFoundError(_not_found_message(split, candidates, download, failures))
        paths = (paths_list[0], paths_list[1])
    images = _read(paths[0], image_file, ndim=3, verify=verify)
    labels = _read(paths[1], label_file, ndim=1, verify=verify)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetCorruptError(
            f"{paths[0]}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28."
        )
    if len(images) != len(labels):
        raise DatasetCorruptError(
            f"{paths[0]} holds {len(images):,} images but {paths[1]} holds {len(labels):,} "
            "labels; the two files do not belong together."
        )
    if labels.size and labels.max() > 9:
        raise DatasetCorruptError(f"{paths[1]}: label {labels.max()} is not a digit (0-9).")
    logger.debug("loaded %s split from %s", split, paths[0].parent)
    return MnistDataset(images, labels.astype(np.int64), split=split)


def _search_dirs(root: str | os.PathLike[str] | None) -> list[Path]:
    dirs = [Path(root).expanduser()] if root is not None else []
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]).expanduser())
    dirs.append(default_cache_dir())
    unique: list[Path] = []
    for directory in dirs:
        if directory not in unique:
            unique.append(directory)
    return unique


def _find_files(dirs: Sequence[Path], files: Sequence[_IdxFile]) -> tuple[Path, ...] | None:
    """The first directory holding all of ``files`` (raw or .gz), as their paths."""
    for directory in dirs:
        found = []
        for idx_file in files:
            for name in (idx_file.name + ".gz", idx_file.name):
                if (directory / name).is_file():
                    found.append(directory / name)
                    break
        if len(found) == len(files):
            return tuple(found)
    return None


def _mirrors(mirrors: Sequence[str] | None) -> Sequence[str]:
    if mirrors is not None:
        return mirrors
    from_env = os.environ.get(MIRRORS_ENV, "").split()
    return from_env or DEFAULT_MIRRORS


def _read(path: Path, idx_file: _IdxFile, *, ndim: int, verify: bool) -> np.ndarray:
    content = _idx.read_bytes(path)
    if verify:
        digest = _idx.sha256(content)
        if digest != idx_file.raw_sha256:
            raise DatasetCorruptError(
                f"{path}: not the published {idx_file.name} (SHA-256 of its content is "
                f"{digest}, expected {idx_file.raw_sha256}). Delete it so that it can be "
                "downloaded again, or pass verify=False to read other data in IDX format."
            )
    return _idx.parse_idx(content, source=str(path), ndim=ndim)


def _not_found_message(
    split: Split, searched: Sequence[Path], download: bool, failures: Sequence[str]
) -> str:
    names = ", ".join(f"{f.name}[.gz]" for f in _FILES[split])
    lines = [
        f"MNIST {split} files not found: {names}.",
        "Searched: " + (", ".join(str(d) for d in searched) or "nothing"),
    ]
    if not download:
        lines.append("Downloading was turned off (download=False).")
    for failure in failures:
        lines.append(f"Download failed: {failure}")
    lines.append(
        f"Put the four MNIST IDX files in a directory and set {DATA_ENV} to it, pass root=, "
        f"or allow downloads (mirrors can be set with {MIRRORS_ENV})."
    )
    return "\n".join(lines)
