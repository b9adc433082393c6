"""Training data-parallel in new processes: ``train(..., procs=N)``.

The calling process writes the data and the network's weights to a private directory (NumPy
files, read back without pickle) and starts N workers with ``paddle.distributed.spawn`` (gloo on
CPU). Each maps the data, rebuilds the network from its registry name and those weights, and
runs :func:`mnistcnn.train` as one rank of N; the first leaves its final weights and its history
(JSON) in the same directory, from which the caller's network is updated in place.

A worker ends itself if the caller dies, and a worker's failure reaches the caller as one
:class:`WorkerError` naming its cause.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paddle.distributed as dist
from paddle import nn

from .._errors import WorkerError
from .._formats._history import History, Recipe
from .._formats._metadata import metadata_for
from ._loop import train_here
from ._watchdog import exit_with_parent

__all__ = ["train_in_processes"]

_START = "start.npz"
_WEIGHTS = "weights.npz"
_HISTORY = "history.json"


@dataclass(frozen=True)
class _Job:
    """What a worker needs besides the arrays, which wait in ``files`` (pickled to each
    worker, so kept small: a large pickle would block the caller if a worker died starting)."""

    architecture: str
    files: str
    has_val: bool
    plan: Recipe
    seed: int | None
    checkpoint_dir: str | None
    progress: bool
    parent_pid: int


def train_in_processes(
    model: nn.Layer,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    val: tuple[np.ndarray, np.ndarray] | None,
    plan: Recipe,
    seed: int | None,
    procs: int,
    checkpoint_dir: Path | None,
    progress: bool,
) -> History:
    """Train ``model`` in ``procs`` new processes; returns the first one's history.

    Raises:
        ValueError: ``model`` is not a :func:`build_model` network, so no worker can rebuild it.
        WorkerError: a worker failed, was killed, or ended without a result.
    """
    architecture = metadata_for(model).architecture
    if architecture is None:
        raise ValueError(
            "procs > 1 needs a network from build_model(name): each process rebuilds the network "
            f"by its architecture name, and this {type(model).__name__} has none. Train it "
            "with procs=1, or under python -m paddle.distributed.launch."
        )
    with tempfile.TemporaryDirectory(prefix="mnistcnn-train-") as files:
        folder = Path(files)
        _write_weights(folder / _START, model)
        arrays = {"images": images, "labels": labels}
        if val is not None:
            arrays.update(val_images=val[0], val_labels=val[1])
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", array)
        job = _Job(
            architecture=architecture,
            files=files,
            has_val=val is not None,
            plan=plan,
            seed=seed,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
            progress=progress,
            parent_pid=os.getpid(),
        )
        _spawn(job, procs)
        try:
            weights = _read_weights(folder / _WEIGHTS)
            history = History.from_dict(json.loads((folder / _HISTORY).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise WorkerError(f"the training processes ended without a result ({exc}).") from exc
    model.set_state_dict(weights)
    model.eval()
    return history


def _spawn(job: _Job, procs: int) -> None:
    with _worker_environment(), warnings.catch_warnings():
        # Paddle's notice that gloo trains on the CPU: this is the CPU path by design.
        warnings.filterwarnings("ignore", message="Your model will be trained under CPUONLY")
        context = dist.spawn(  # type: ignore[call-arg]
            _worker, args=(job,), nprocs=procs, backend="gloo", join=False
        )
    try:
        while not context.join():  # type: ignore[no-untyped-call]
            pass
    except Exception as exc:  # spawn reports a worker's failure as a bare Exception
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise WorkerError(f"a training process failed: {lines[-1] if lines else exc}") from exc
    finally:  # an interrupt (Ctrl-C) in the caller ends the workers too
        for process in context.processes:
            if process.is_alive():
                process.terminate()
            process.join()


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """The environment the workers start with, restored for the caller afterwards."""
    saved = {name: os.environ.get(name) for name in ("PYTHONWARNINGS", "GLOG_minloglevel")}
    # The workers import Paddle before any code of ours runs: silence its compiler-cache notice,
    # and the C++ INFO lines of its TCP store ("Successfully connected to ...").
    warning_filters = [saved["PYTHONWARNINGS"], "ignore:No ccache found"]
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, warning_filters))
    os.environ.setdefault("GLOG_minloglevel", "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _worker(job: _Job) -> None:
    """One rank: rebuild the network, train, and (first rank) leave the result for the caller."""
    # tqdm's bars share a multiprocessing lock by default: a semaphore, which a rank killed
    # mid-training leaves behind, and Python's resource tracker then prints a "leaked
    # semaphore" warning after our error message. This process draws one bar at most.
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    tqdm.set_lock(threading.RLock())
    from .._models._architectures import build_model

    exit_with_parent(job.parent_pid)
    # Paddle, imported before any code of ours ran here, set the root logger to INFO with a
    # handler of its own: give the worker the default, as the caller's process has.
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    root.handlers.clear()
    folder = Path(job.files)

    def array(name: str) -> np.ndarray:
        loaded: np.ndarray = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        return loaded

    network = build_model(job.architecture)
    network.set_state_dict(_read_weights(folder / _START))
    history = train_here(
        network,
        array("images"),
        array("labels"),
        (array("val_images"), array("val_labels")) if job.has_val else None,
        job.plan,
        job.seed,
        None if job.checkpoint_dir is None else Path(job.checkpoint_dir),
        job.progress,
    )
    if dist.get_rank() != 0:
        return
    _write_weights(folder / _WEIGHTS, network)
    (folder / _HISTORY).write_text(json.dumps(history.to_dict()), encoding="utf-8")


def _write_weights(path: Path, network: nn.Layer) -> None:
    weights: dict[str, Any] = {name: value.numpy() for name, value in network.state_dict().items()}
    np.savez(path, **weights)


def _read_weights(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}
