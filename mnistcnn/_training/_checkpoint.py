"""Training checkpoints: everything a run needs to continue as if it had never stopped.

A checkpoint directory holds at most one current checkpoint, named by the pointer file
``latest``::

    DIR/latest               "epoch-0003"
    DIR/epoch-0003/model.pdparams      the network's state dict (batch-norm statistics included)
    DIR/epoch-0003/optimizer.pdopt     the optimizer's moments, keyed by parameter (see below)
    DIR/epoch-0003/state.json          the configuration, epoch, history, learning-rate
                                       schedule and the random generators of every process

A checkpoint is written into a temporary directory ``DIR/.tmp-...`` and flushed to disk, renamed
to ``epoch-NNNN``, and only then made current by replacing ``latest`` (itself written beside it
and renamed): a process killed at any moment leaves the previous checkpoint current and whole.
The next run removes whatever such a kill left behind.

Weights are written with ``paddle.save`` (Paddle's own formats) and read back through the
restricted unpickler, so a checkpoint directory someone else controls cannot run code.
Paddle names an optimizer's state after global parameter names (``conv2d_3.w_0_moment1_0``) that
depend on how many layers the process built before; the checkpoint keys it by the network's
structured names (``0.weight`` -> ``moment1_0``) instead, so any process can resume it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle import nn

from .._errors import CheckpointError, ModelFormatError
from .._formats._atomic import fsync
from .._formats._history import History, Recipe
from .._formats._unpickle import read_state

__all__ = ["Checkpoint", "RankState", "describe_run", "read", "read_config", "write"]

FORMAT = 1
POINTER = "latest"
MODEL_FILE = "model.pdparams"
OPTIMIZER_FILE = "optimizer.pdopt"
STATE_FILE = "state.json"
_EPOCH_PREFIX = "epoch-"
_TEMP_PREFIX = ".tmp-"

# Configuration fields that do not change what a run computes, so a resume may differ in them.
_IGNORED_RECIPE_FIELDS = ("description",)


@dataclass(frozen=True)
class RankState:
    """The random generators of one process at the end of an epoch.

    Attributes:
        order_rng: ``bit_generator.state`` of the numpy generator drawing the batch order.
        augment_rng: the same for the generator drawing augmentations.
        paddle_rng: Paddle's generator states (``paddle.get_rng_state()``), each as
            ``[device, seed, offset, engine]`` with the engine's state as text.
    """

    order_rng: dict[str, Any]
    augment_rng: dict[str, Any]
    paddle_rng: list[list[Any]]

    @classmethod
    def capture(cls, order_rng: np.random.Generator, augment_rng: np.random.Generator) -> RankState:
        """The current state of this process's generators."""
        states = []
        for state in paddle.get_rng_state():
            device, seed, offset, engine = state.__getstate__()
            states.append([device, seed, offset, bytes(engine).decode("ascii")])
        return cls(
            order_rng=dict(order_rng.bit_generator.state),
            augment_rng=dict(augment_rng.bit_generator.state),
            paddle_rng=states,
        )

    def restore(self, order_rng: np.random.Generator, augment_rng: np.random.Generator) -> None:
        """Put this process's generators back in this state."""
        order_rng.bit_generator.state = self.order_rng
        augment_rng.bit_generator.state = self.augment_rng
        generator_state = paddle.base.core.GeneratorState
        states = []
        for device, seed, offset, engine in self.paddle_rng:
            state = generator_state.__new__(generator_state)
            state.__setstate__((device, seed, offset, list(engine.encode("ascii"))))
            states.append(state)
        paddle.set_rng_state(states)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as read back from disk.

    Attributes:
        path: its directory.
        epoch: the number of epochs completed.
        config: what :func:`describe_run` said about the run that wrote it.
        history: the epochs completed so far, with the recipe and seed.
        model: the network's state dict.
        optimizer: the optimizer's state, by structured parameter name, then accumulator.
        schedule: the learning-rate schedule's state dict, if the recipe has a schedule.
        ranks: the random generators of each process, by rank.
    """

    path: Path
    epoch: int
    config: dict[str, Any]
    history: History
    model: dict[str, Any]  # arrays
    optimizer: dict[str, dict[str, Any]]
    schedule: dict[str, Any] | None
    ranks: tuple[RankState, ...]

    def load_into(
        self,
        model: nn.Layer,
        optimizer: paddle.optimizer.Optimizer,
        schedule: paddle.optimizer.lr.LRScheduler | None,
    ) -> None:
        """Set ``model``, ``optimizer`` and ``schedule`` to the state of this checkpoint."""
        model.set_state_dict(self.model)
        missing = set(model.state_dict()) - set(self.model)
        if missing:
            raise CheckpointError(f"{self.path}: no weights for {sorted(missing)}.")
        state: dict[str, Any] = _to_paddle_names(self.optimizer, model, self.path)
        if schedule is not None:
            if self.schedule is None:
                raise CheckpointError(f"{self.path}: no learning-rate schedule state.")
            state["LR_Scheduler"] = self.schedule  # the optimizer sets its schedule from it
        optimizer.set_state_dict(state)


def describe_run(
    *,
    plan: Recipe,
    model: nn.Layer,
    architecture: str | None,
    seed: int | None,
    world_size: int,
    images: np.ndarray,
    labels: np.ndarray,
) -> dict[str, Any]:
    """What a checkpoint must agree with to be resumed by this run (JSON-ready).

    ``seed=None`` means "whatever the checkpoint used"; the data are described by their size
    and a SHA-256 of their bytes, so a checkpoint of other images is refused too.
    """
    recipe = asdict(plan)
    for name in _IGNORED_RECIPE_FIELDS:
        recipe.pop(name, None)
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).astype(np.int64).tobytes())
    description = {
        "recipe": recipe,
        "architecture": architecture,
        "parameters": {name: list(value.shape) for name, value in model.state_dict().items()},
        "seed": seed,
        "world_size": world_size,
        "data": {"images": len(images), "sha256": digest.hexdigest()},
    }
    # Through JSON, so that the description compares equal to one read back from disk.
    normalised: dict[str, Any] = json.loads(json.dumps(description))
    return normalised


def check_compatible(stored: Mapping[str, Any], current: Mapping[str, Any], where: Path) -> None:
    """Refuse to resume a checkpoint written by a different configuration.

    Raises:
        CheckpointError: naming every field that differs, with both values.
    """
    differences = []
    for key in sorted(set(stored) | set(current)):
        if key == "seed" and current.get("seed") is None:
            continue  # no seed given: the checkpoint's is used
        old, new = stored.get(key), current.get(key)
        if key == "recipe" and isinstance(old, dict) and isinstance(new, dict):
            differences += [
                f"{name} {old.get(name)!r} (checkpoint) vs {new.get(name)!r} (this run)"
                for name in sorted(set(old) | set(new))
                if old.get(name) != new.get(name)
            ]
        elif key == "parameters" and old != new:
            differences.append("the network's layers differ (parameter names or shapes)")
        elif key == "data" and old != new:
            differences.append(f"training data {_data_text(old)} (checkpoint) vs {_data_text(new)}")
        elif old != new:
            name = key.replace("_", " ")
            differences.append(f"{name} {old!r} (checkpoint) vs {new!r} (this run)")
    if differences:
        raise CheckpointError(
            f"{where} holds a checkpoint of a different training run: "
            + "; ".join(differences)
            + ". Resume with the same settings, or give another checkpoint directory (or "
            "empty this one) to start afresh."
        )


def _data_text(description: object) -> str:
    if not isinstance(description, dict):
        return repr(description)
    return f"of {description.get('images')} images (sha256 {str(description.get('sha256'))[:12]})"


def current(directory: Path) -> Path | None:
    """The current checkpoint's directory, or None if ``directory`` holds none yet.

    Raises:
        CheckpointError: ``latest`` names something that is not a checkpoint directory here.
    """
    try:
        name = (directory / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"{directory / POINTER}: cannot be read ({exc}).") from exc
    path = directory / name
    if not name.startswith(_EPOCH_PREFIX) or "/" in name or not path.is_dir():
        raise CheckpointError(
            f"{directory / POINTER} names {name!r}, which is not a checkpoint in {directory}: "
            "the directory was changed by hand. Empty it to start afresh."
        )
    return path


def read_config(directory: Path) -> dict[str, Any] | None:
    """The configuration of the current checkpoint in ``directory`` (None if it has none)."""
    path = current(directory)
    return None if path is None else _read_document(path)["config"]


def read(directory: Path) -> Checkpoint | None:
    """The current checkpoint in ``directory``, or None if there is none.

    Raises:
        CheckpointError: the checkpoint is damaged or not one this version can read.
    """
    path = current(directory)
    if path is None:
        return None
    document = _read_document(path)
    try:
        model = read_state(path / MODEL_FILE)
        optimizer = read_state(path / OPTIMIZER_FILE)
    except ModelFormatError as exc:
        raise CheckpointError(f"{path}: damaged ({exc}).") from exc
    try:
        ranks = tuple(
            RankState(
                order_rng=dict(rank["order_rng"]),
                augment_rng=dict(rank["augment_rng"]),
                paddle_rng=[list(state) for state in rank["paddle_rng"]],
            )
            for rank in document["ranks"]
        )
        checkpoint = Checkpoint(
            path=path,
            epoch=int(document["epoch"]),
            config=dict(document["config"]),
            history=History.from_dict(document["history"]),
            model={str(k): np.asarray(v) for k, v in model.items()},
            optimizer={str(k): dict(v) for k, v in optimizer.items()},
            schedule=document["schedule"],
            ranks=ranks,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged ({exc!r}).") from exc
    if len(checkpoint.history.epochs) != checkpoint.epoch:
        raise CheckpointError(
            f"{path}: damaged (epoch {checkpoint.epoch} with {len(checkpoint.history.epochs)} "
            "epochs of history)."
        )
    return checkpoint


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged, {STATE_FILE} unreadable ({exc}).") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise CheckpointError(
            f"{path}: checkpoint format {found!r}; this version of mnistcnn reads format "
            f"{FORMAT}. Resume it with the version that wrote it, or start afresh."
        )
    if not isinstance(document.get("config"), dict):
        raise CheckpointError(f"{path}: damaged, no configuration in {STATE_FILE}.")
    return document


def write(
    directory: Path,
    *,
    epoch: int,
    config: Mapping[str, Any],
    history: History,
    model: nn.Layer,
    optimizer: paddle.optimizer.Optimizer,
    schedule: paddle.optimizer.lr.LRScheduler | None,
    ranks: list[RankState],
) -> Path:
    """Write a checkpoint after ``epoch`` epochs and make it the current one, atomically.

    Returns:
        The new checkpoint's directory.
    """
    staging = directory / f"{_TEMP_PREFIX}{_EPOCH_PREFIX}{epoch:04d}-{secrets.token_hex(4)}"
    staging.mkdir()
    optimizer_state = dict(optimizer.state_dict())
    optimizer_state.pop("LR_Scheduler", None)  # kept in state.json, with the other plain values
    # As NumPy arrays: Paddle pickles a tensor nested below the top level as a call of
    # ``tuple``, which the restricted reader rightly refuses.
    weights: Any = {name: value.numpy() for name, value in model.state_dict().items()}
    paddle.save(weights, str(staging / MODEL_FILE))
    moments: Any = _to_structured_names(optimizer_state, model)
    paddle.save(moments, str(staging / OPTIMIZER_FILE))
    document = {
        "format": FORMAT,
        "epoch": epoch,
        "config": dict(config),
        "history": history.to_dict(),
        "schedule": None if schedule is None else dict(schedule.state_dict()),
        "ranks": [asdict(rank) for rank in ranks],
    }
    (staging / STATE_FILE).write_text(json.dumps(document, indent=1), encoding="utf-8")
    for name in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE):
        fsync(staging / name)
    fsync(staging)
    final = directory / f"{_EPOCH_PREFIX}{epoch:04d}"
    previous = current(directory)
    if final.exists() and final != previous:  # left by a kill before its pointer was written
        shutil.rmtree(final)
    os.replace(staging, final)
    fsync(directory)
    pointer = directory / f"{_TEMP_PREFIX}{POINTER}-{secrets.token_hex(4)}"
    pointer.write_text(final.name + "\n", encoding="utf-8")
    fsync(pointer)
    os.replace(pointer, directory / POINTER)  # the commit point
    fsync(directory)
    if previous is not None and previous != final:
        shutil.rmtree(previous, ignore_errors=True)
    return final


def clean(directory: Path) -> None:
    """Remove what a killed writer left in ``directory``: temporaries, and checkpoints that
    never became current or stopped being current."""
    keep = current(directory)
    for entry in directory.iterdir():
        stale = entry.name.startswith(_TEMP_PREFIX) or (
            entry.name.startswith(_EPOCH_PREFIX) and entry != keep
        )
        if not stale:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _to_structured_names(
    state: Mapping[str, paddle.Tensor], model: nn.Layer
) -> dict[str, dict[str, np.ndarray]]:
    """``{"conv2d_3.w_0_moment1_0": t}`` -> ``{"0.weight": {"moment1_0": array}}``."""
    names = {value.name: key for key, value in model.state_dict().items()}
    # Longest first, so that no name is taken for the prefix of a longer one.
    by_length = sorted(names, key=len, reverse=True)
    structured: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        owner = next((n for n in by_length if key.startswith(f"{n}_")), None)
        if owner is None:
            raise ValueError(f"optimizer state {key!r} belongs to no parameter of the network.")
        structured.setdefault(names[owner], {})[key[len(owner) + 1 :]] = value.numpy()
    return structured


def _to_paddle_names(
    state: Mapping[str, Mapping[str, np.ndarray]], model: nn.Layer, where: Path
) -> dict[str, np.ndarray]:
    parameters = model.state_dict()
    paddle_state: dict[str, np.ndarray] = {}
    for key, accumulators in state.items():
        if key not in parameters:
            raise CheckpointError(f"{where}: optimizer state for {key!r}, not in the network.")
        for accumulator, value in accumulators.items():
            paddle_state[f"{parameters[key].name}_{accumulator}"] = value
    return paddle_state
