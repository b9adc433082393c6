"""``train``: the public entry point, which checks its arguments and trains here or in new
processes (:mod:`._processes`), each of which runs :func:`._loop.train_here`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import paddle.distributed as dist
from paddle import nn

from .._data._mnist import MnistDataset
from .._formats._history import History, Recipe
from .._inference._evaluation import as_arrays
from .._models._architectures import ends_with_softmax
from . import _checkpoint
from ._loop import _describe, train_here
from ._processes import train_in_processes
from ._recipes import get_recipe

__all__ = ["train"]


def train(
    model: nn.Layer,
    data: MnistDataset | tuple[np.ndarray, np.ndarray],
    *,
    val: MnistDataset | tuple[np.ndarray, np.ndarray] | None = None,
    recipe: str | Recipe = "tutorial",
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    procs: int = 1,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place with a recipe's optimiser, schedule and augmentation.

    The default recipe is the Paddle tutorial's: Adam at 1e-3, batch 64, 5 epochs, plain
    cross-entropy (on logits: no double softmax). See :func:`mnistcnn.get_recipe` for the
    others; ``epochs``, ``batch_size`` and ``learning_rate`` override the recipe's values.

    With ``procs=N`` it trains data-parallel in N processes (gloo on CPU; 2 is fastest on a
    2-core machine): each process takes its share of every batch, and the weights of the
    first one come back into ``model``. Run under ``python -m paddle.distributed.launch
    --nproc_per_node N`` instead, every process calls ``train`` itself, which detects the
    others. Either way ``batch_size`` is the global batch, split across the processes.

    With ``checkpoint_dir``, a complete checkpoint (weights, optimizer, schedule, random
    generators, history so far) is written there atomically after every epoch, and a call
    with the same directory resumes from the last one: a run killed at any moment and resumed
    ends with the same weights, bit for bit, as one never interrupted. A run that finished is
    not repeated: its weights are loaded and its history returned.

    Args:
        model: a network that outputs logits, e.g. from :func:`build_model`.
        data: a dataset from :func:`load_data`, or ``(images, labels)``: uint8 array of
            shape (n, 28, 28) and integer labels of shape (n,).
        val: data to measure accuracy on after each epoch.
        recipe: a recipe name or :class:`Recipe`.
        epochs: passes over ``data``.
        batch_size: images per step.
        learning_rate: Adam's rate (the peak rate of a one-cycle or cosine schedule).
        seed: makes the run reproducible (batch order and augmentation). Build the model with
            the same ``seed`` for identical initial weights. Without one, a seed is chosen at
            random and recorded in the history (and the checkpoint, which reuses it).
        procs: processes to train in. More than 1 needs a network from
            :func:`build_model`, which the processes rebuild by name; the calling script must
            guard its own code with ``if __name__ == "__main__":``, since each process imports it.
        checkpoint_dir: a directory to write checkpoints to and resume from (created if
            missing).
        progress: show a progress bar with the live loss and accuracy on stderr.

    Returns:
        A :class:`History` with one :class:`EpochResult` per epoch.

    Raises:
        ValueError: a non-positive ``epochs``, ``batch_size``, ``learning_rate`` or ``procs``,
            an unknown recipe, a model that ends in ``Softmax`` (the loss would apply softmax
            twice), or ``procs`` > 1 with a network not from :func:`build_model`.
        CheckpointError: ``checkpoint_dir`` holds a checkpoint of a different run (recipe,
            epochs, batch size, rate, network, seed, processes or data), or a damaged one.
        WorkerError: a training process failed or was killed (``procs`` > 1).
    """
    plan = get_recipe(recipe) if isinstance(recipe, str) else recipe
    plan = replace(
        plan,
        epochs=plan.epochs if epochs is None else epochs,
        batch_size=plan.batch_size if batch_size is None else batch_size,
        learning_rate=plan.learning_rate if learning_rate is None else learning_rate,
    )
    if plan.epochs < 1 or plan.batch_size < 1 or not plan.learning_rate > 0:
        raise ValueError(
            f"epochs and batch_size must be at least 1 and learning_rate positive; got "
            f"epochs={plan.epochs}, batch_size={plan.batch_size}, "
            f"learning_rate={plan.learning_rate}."
        )
    if ends_with_softmax(model):
        raise ValueError(
            "the model ends in Softmax, but the loss applies softmax itself: training through "
            "both stalls (the tutorial's loss floors near 1.46). Drop the last layer, or use "
            "build_model('tutorial'), which outputs logits."
        )
    images, labels = as_arrays(data)
    if len(images) == 0:
        raise ValueError("data holds no images.")
    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ValueError(f"procs must be an integer of at least 1; got {procs!r}.")
    directory = None if checkpoint_dir is None else Path(checkpoint_dir)
    if procs > 1:
        return _in_processes(model, images, labels, val, plan, seed, procs, directory, progress)
    return train_here(model, images, labels, val, plan, seed, directory, progress)


def _in_processes(
    model: nn.Layer,
    images: np.ndarray,
    labels: np.ndarray,
    val: MnistDataset | tuple[np.ndarray, np.ndarray] | None,
    plan: Recipe,
    seed: int | None,
    procs: int,
    directory: Path | None,
    progress: bool,
) -> History:
    """Check what can be checked here, then train in ``procs`` new processes."""
    if dist.get_world_size() > 1:
        raise ValueError(
            "procs cannot be more than 1 in a process started by paddle.distributed.launch: "
            "each process of the launch calls train itself."
        )
    if plan.batch_size < procs:
        raise ValueError(f"batch_size {plan.batch_size} is smaller than the {procs} processes.")
    if directory is not None:
        # Refused here, as a CheckpointError, rather than as a worker's failure.
        stored = _checkpoint.read_config(directory) if directory.is_dir() else None
        if stored is not None:
            config = _describe(plan, model, seed, procs, images, labels)
            _checkpoint.check_compatible(stored, config, directory)
    return train_in_processes(
        model,
        images,
        labels,
        val=None if val is None else as_arrays(val),
        plan=plan,
        seed=seed,
        procs=procs,
        checkpoint_dir=directory,
        progress=progress,
    )
