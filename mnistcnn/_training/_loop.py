"""Training a network on in-memory digits, on one process or data-parallel on several.

The whole split is one uint8 array; each step slices a batch and converts it with the shared
:func:`~mnistcnn._input._preprocess.to_model_input`, so the input pipeline costs next to
nothing beside the network (Paddle's per-sample ``DataLoader`` path costs about 5 s per epoch).

Data-parallel: when the process is one of several started by ``paddle.distributed.launch`` or
``paddle.distributed.spawn`` (gloo on CPU), every rank draws the same batch order from the shared
seed and takes its share of each batch; gradients are averaged by :class:`paddle.DataParallel`
and batch-norm statistics at the end of each epoch, so all ranks end with identical weights.
``train(..., procs=N)`` starts such processes itself (:mod:`mnistcnn._training._processes`).

A line reader (``build_model("reader")``) is trained the same way on numbers composed from each
batch's digits (:mod:`mnistcnn._data._composing`), with CTC loss; its accuracy is the share of
numbers read exactly.

Checkpoints (:mod:`mnistcnn._training._checkpoint`) hold every piece of state the next epoch
depends on, so a resumed run draws the same batches, augmentations and dropout masks as an
uninterrupted one; checkpointing itself draws nothing, so a run with checkpoints equals one without.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paddle
import paddle.distributed as dist
from paddle import nn

from .._data._composing import LineBatch, compose_batch
from .._data._mnist import MnistDataset
from .._errors import CheckpointError, WorkerError
from .._formats._history import EpochResult, History, Recipe
from .._formats._metadata import metadata_for
from .._inference._classifier import DigitClassifier
from .._inference._evaluation import as_arrays, evaluate
from .._input._preprocess import to_model_input
from .._models._architectures import reads_lines
from .._progress import progress_bar
from .._reading._ctc import decode
from . import _checkpoint
from ._watchdog import JOIN_TIMEOUT_VARIABLE, exit_with_parent

__all__ = ["train_here"]

logger = logging.getLogger(__name__)


def train_here(
    model: nn.Layer,
    images: np.ndarray,
    labels: np.ndarray,
    val: MnistDataset | tuple[np.ndarray, np.ndarray] | None,
    plan: Recipe,
    seed: int | None,
    directory: Path | None,
    progress: bool,
) -> History:
    """Train ``model`` in this process (one of several, if a launcher started them): what
    :func:`mnistcnn.train` runs once it has checked its arguments, and each process of
    ``procs=N`` runs."""
    world, rank = _parallel_context()
    if world > 1 and plan.batch_size < world:
        raise ValueError(f"batch_size {plan.batch_size} is smaller than the {world} processes.")
    resumed = None
    config: dict[str, Any] = {}
    if directory is not None:
        config = _describe(plan, model, seed, world, images, labels)
        resumed = _read_checkpoint(directory, config, world, rank)
    seed = resumed.config["seed"] if resumed is not None else _shared_seed(seed, world)
    config["seed"] = seed
    paddle.seed(seed + rank)  # dropout differs per rank; batch order and weights do not
    schedule = _schedule(plan, -(-len(images) // plan.batch_size) * plan.epochs)
    run = _Run(
        plan=plan,
        model=model,
        network=paddle.DataParallel(model) if world > 1 else model,
        optimizer=_optimizer(plan, schedule, model),
        schedule=schedule,
        order_rng=np.random.default_rng(seed),
        augment_rng=np.random.default_rng([seed, rank]),
        world=world,
        rank=rank,
        show=progress and rank == 0,
    )
    results: list[EpochResult] = []
    if resumed is not None:
        resumed.load_into(model, run.optimizer, schedule)
        resumed.ranks[rank].restore(run.order_rng, run.augment_rng)
        results = list(resumed.history.epochs)
        logger.info("resuming from %s after epoch %d", resumed.path, resumed.epoch)
    with warnings.catch_warnings():
        # Paddle warns on every batch-norm layer in training mode about a change of its own.
        warnings.filterwarnings("ignore", message="When training, we now always track global")
        for epoch in range(len(results) + 1, plan.epochs + 1):
            results.append(run.epoch(epoch, images, labels, val))
            if directory is not None:
                run.save_checkpoint(directory, config, History(tuple(results), plan, world, seed))
    model.eval()
    if world > 1:
        _check_identical_weights(model, world, rank)
    return History(tuple(results), recipe=plan, world_size=world, seed=seed)


def _read_checkpoint(
    directory: Path, config: dict[str, Any], world: int, rank: int
) -> _checkpoint.Checkpoint | None:
    """The checkpoint to resume from, if any. The first process reads it and hands it to the
    others, so only its machine needs the directory (nodes need not share a file system); a
    checkpoint it refuses is refused by every process, none is left waiting."""
    found: _checkpoint.Checkpoint | CheckpointError | None = None
    if rank == 0:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            _checkpoint.clean(directory)
            found = _checkpoint.read(directory)
            if found is not None:
                _checkpoint.check_compatible(found.config, config, directory)
                if len(found.ranks) != world:
                    raise CheckpointError(
                        f"{found.path}: damaged (random states of too few ranks)."
                    )
        except OSError as exc:
            found = CheckpointError(f"{directory}: cannot be used for checkpoints ({exc}).")
        except CheckpointError as exc:
            found = exc
    if world > 1:
        shared: list[Any] = [found]
        dist.broadcast_object_list(shared, src=0)
        found = shared[0]
    if isinstance(found, CheckpointError):
        raise found
    return found


def _check_identical_weights(model: nn.Layer, world: int, rank: int) -> None:
    """Compare a digest of every process's final weights (batch-norm statistics included)."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value.numpy()).tobytes())
    mine = digest.hexdigest()
    everyone: list[str] = []
    dist.all_gather_object(everyone, mine)
    if len(set(everyone)) != 1:
        raise WorkerError(
            f"the {world} training processes ended with different weights (process {rank}: "
            f"sha256 {mine[:16]}, others: {sorted(set(everyone) - {mine})[0][:16]}); the "
            "result cannot be trusted. Report this with the command and Paddle's version."
        )
    # Once per machine: the first process there says it (the launcher numbers them).
    if os.environ.get("PADDLE_LOCAL_RANK", str(rank)) == "0":
        logger.info(
            "process %d of %d: weights sha256 %s, identical on every process", rank, world, mine
        )


def _describe(
    plan: Recipe,
    model: nn.Layer,
    seed: int | None,
    world: int,
    images: np.ndarray,
    labels: np.ndarray,
) -> dict[str, Any]:
    return _checkpoint.describe_run(
        plan=plan,
        model=model,
        architecture=metadata_for(model).architecture,
        seed=seed,
        world_size=world,
        images=images,
        labels=labels,
    )


@dataclass
class _Run:
    """The state of one training run, shared by its epochs."""

    plan: Recipe
    model: nn.Layer
    network: nn.Layer  # ``model``, or its DataParallel wrapper
    optimizer: paddle.optimizer.Optimizer
    schedule: paddle.optimizer.lr.LRScheduler | None
    order_rng: np.random.Generator
    augment_rng: np.random.Generator
    world: int
    rank: int
    show: bool

    def epoch(
        self,
        epoch: int,
        images: np.ndarray,
        labels: np.ndarray,
        val: MnistDataset | tuple[np.ndarray, np.ndarray] | None,
    ) -> EpochResult:
        plan = self.plan
        self.model.train()
        order = self.order_rng.permutation(len(images))
        totals = np.zeros(3)  # loss sum, correct, seen (this rank)
        start = time.perf_counter()
        bar = progress_bar(len(images), desc=f"epoch {epoch}/{plan.epochs}", enabled=self.show)
        with bar:
            for first in range(0, len(images), plan.batch_size):
                batch = order[first : first + plan.batch_size]
                mine = batch[self.rank :: self.world]
                step = self._line_step if self.lines else self._digit_step
                loss, correct, count = step(images[mine], labels[mine])
                loss.backward()
                self.optimizer.step()
                self.optimizer.clear_grad()
                if self.schedule is not None:
                    self.schedule.step()
                totals += (float(loss) * count, correct, count)
                bar.set_postfix(
                    loss=totals[0] / totals[2], acc=totals[1] / totals[2], refresh=False
                )
                bar.update(len(batch))
        seconds = time.perf_counter() - start
        if self.world > 1:
            totals = _sum_across_ranks(totals)
            _average_buffers(self.model, self.world)
        val_accuracy = val_loss = None
        if val is not None:
            if self.lines:
                val_accuracy, val_loss = evaluate_lines(self.model, *as_arrays(val))
            else:
                report = evaluate(DigitClassifier(self.model), val)
                val_accuracy, val_loss = report.accuracy, report.loss
            if self.show:
                print(
                    f"  val_accuracy {val_accuracy:.4f}  val_loss {val_loss:.4f}", file=sys.stderr
                )
        result = EpochResult(
            epoch, totals[0] / totals[2], totals[1] / totals[2], val_accuracy, val_loss, seconds
        )
        logger.debug("%s", result)
        return result

    @property
    def lines(self) -> bool:
        return reads_lines(self.model)

    def _digit_step(self, images: np.ndarray, labels: np.ndarray) -> tuple[Any, int, int]:
        """One batch of digits: cross-entropy, and how many the network got right."""
        x = paddle.to_tensor(to_model_input(images))
        y = paddle.to_tensor(labels)
        if self.plan.augmentation.active:
            x = self.plan.augmentation.apply(x, self.augment_rng)
        logits = self.network(x)
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=self.plan.label_smoothing)
        correct = int((logits.argmax(axis=1) == y).astype("int64").sum())
        return loss, correct, len(images)

    def _line_step(self, images: np.ndarray, labels: np.ndarray) -> tuple[Any, int, int]:
        """The batch's digits composed into numbers: CTC loss, and how many numbers the
        network read exactly."""
        batch = compose_batch(images, labels, self.augment_rng)
        logits = self.network(paddle.to_tensor(batch.images))
        loss = _ctc_loss(logits, batch)
        return loss, _exact_lines(logits.numpy(), batch), len(batch.targets)

    def save_checkpoint(self, directory: Path, config: dict[str, Any], history: History) -> None:
        """Write the state after the last epoch to ``directory`` (the first process writes;
        every process contributes its random generators)."""
        mine = _checkpoint.RankState.capture(self.order_rng, self.augment_rng)
        ranks = [mine]
        if self.world > 1:
            gathered: list[_checkpoint.RankState] = []
            dist.all_gather_object(gathered, mine)
            ranks = gathered
        if self.rank == 0:
            _checkpoint.write(
                directory,
                epoch=len(history.epochs),
                config=config,
                history=history,
                model=self.model,
                optimizer=self.optimizer,
                schedule=self.schedule,
                ranks=ranks,
            )


_VALIDATION_SEED = 20261129


def evaluate_lines(model: nn.Layer, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """A line reader's share of numbers read exactly, and its mean CTC loss, on numbers
    composed from ``images`` (always the same ones for the same digits)."""
    rng = np.random.default_rng(_VALIDATION_SEED)
    was_training = model.training
    model.eval()
    exact = lines = 0
    loss_sum = 0.0
    with paddle.no_grad():
        for first in range(0, len(images), 512):
            batch = compose_batch(images[first : first + 512], labels[first : first + 512], rng)
            logits = model(paddle.to_tensor(batch.images))
            loss_sum += float(_ctc_loss(logits, batch)) * len(batch.targets)
            exact += _exact_lines(logits.numpy(), batch)
            lines += len(batch.targets)
    if was_training:
        model.train()
    return exact / lines, loss_sum / lines


def _ctc_loss(logits: paddle.Tensor, batch: LineBatch) -> paddle.Tensor:
    # Paddle's CTC (warp-ctc) applies softmax itself: it takes the scores, time first.
    loss: paddle.Tensor = nn.functional.ctc_loss(
        logits.transpose([1, 0, 2]),
        paddle.to_tensor(batch.targets),
        paddle.to_tensor(batch.input_lengths),
        paddle.to_tensor(batch.target_lengths),
        blank=0,
        reduction="mean",
    )
    return loss


def _exact_lines(logits: np.ndarray, batch: LineBatch) -> int:
    exact = 0
    for index, length in enumerate(batch.input_lengths):
        read = [digit.label + 1 for digit in decode(logits[index, : int(length)])]
        expected = batch.targets[index, : int(batch.target_lengths[index])].tolist()
        exact += read == expected
    return exact


def _parallel_context() -> tuple[int, int]:
    """(world size, rank); initialises Paddle's collective environment when launched for it."""
    world = dist.get_world_size()
    if world > 1 and not dist.is_initialized():
        if "PADDLE_LOCAL_RANK" in os.environ:  # started by Paddle's launcher
            exit_with_parent(os.getppid())  # a killed launcher leaves no process training
        with _give_up_after(os.environ.get(JOIN_TIMEOUT_VARIABLE)):
            if dist.get_rank() != 0:
                _wait_for_store()
            try:
                with _without_flags_banner():
                    dist.init_parallel_env()
            except (RuntimeError, OSError) as exc:  # as Paddle reports a peer that went away
                lines = [line for line in str(exc).splitlines() if line.strip()]
                raise WorkerError(
                    f"could not connect to the other training processes: "
                    f"{lines[-1] if lines else exc}"
                ) from exc
    return world, dist.get_rank() if world > 1 else 0


@contextlib.contextmanager
def _without_flags_banner() -> Iterator[None]:
    """Paddle's ``init_parallel_env`` writes a "Modified FLAGS detected" banner to stderr in
    every process (for a flag Paddle sets itself): noise to the user, dropped here; anything
    else written meanwhile still reaches stderr."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        kept = [
            line
            for line in captured.getvalue().splitlines(keepends=True)
            if not _FLAGS_BANNER.match(line)
        ]
        sys.stderr.write("".join(kept))


_FLAGS_BANNER = re.compile(r"^(=+ Modified FLAGS detected =+|=+|FLAGS\(name=.*\))\s*$")


def _wait_for_store() -> None:
    """Wait until the first process's rendezvous store listens. Paddle's client, if it comes
    first, sleeps 3 s before trying again: with two processes started together, that was a
    tenth of a whole training run of the fast recipe."""
    address = (
        os.environ.get("PADDLE_MASTER")
        or os.environ.get("PADDLE_TRAINER_ENDPOINTS", "").split(",")[0]
    )
    if os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT"):
        address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # Paddle will say what is missing
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError:
            time.sleep(0.02)


@contextlib.contextmanager
def _give_up_after(seconds: str | None) -> Iterator[None]:
    """End this process if the block takes longer than ``seconds``: Paddle waits for the
    other processes to connect without a limit, and one that failed never will."""
    if not seconds:
        yield
        return
    limit = float(seconds)

    def give_up() -> None:
        print(
            f"mnistcnn train: error: the other training processes did not all connect within "
            f"{limit:g} s (process {dist.get_rank()} of {dist.get_world_size()}): a node failed "
            "before training or never started.",
            file=sys.stderr,
            flush=True,
        )
        os._exit(3)

    timer = threading.Timer(limit, give_up)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _shared_seed(seed: int | None, world: int) -> int:
    """``seed``, or a random one; with several processes, rank 0's choice for all."""
    if seed is not None:
        return seed
    chosen = paddle.to_tensor([int(np.random.default_rng().integers(0, 2**31 - 1))])
    if world > 1:
        dist.broadcast(chosen, src=0)
    return int(chosen.numpy()[0])


def _schedule(plan: Recipe, total_steps: int) -> paddle.optimizer.lr.LRScheduler | None:
    if plan.schedule == "constant":
        return None
    if plan.schedule == "onecycle":
        return paddle.optimizer.lr.OneCycleLR(
            max_learning_rate=plan.learning_rate,
            # Paddle's warm-up phase needs a step of its own: with 4 steps or fewer in all
            # (a tiny --limit) it divides by zero. A very short run then ends mid-cycle.
            total_steps=max(total_steps, 8),
            phase_pct=0.25,
            end_learning_rate=plan.learning_rate * 1e-3,
        )
    if plan.schedule == "cosine":
        return paddle.optimizer.lr.CosineAnnealingDecay(plan.learning_rate, T_max=total_steps)
    raise ValueError(f"schedule must be 'constant', 'onecycle' or 'cosine'; got {plan.schedule!r}.")


def _optimizer(
    plan: Recipe, schedule: paddle.optimizer.lr.LRScheduler | None, model: nn.Layer
) -> paddle.optimizer.Optimizer:
    rate = schedule if schedule is not None else plan.learning_rate
    if plan.weight_decay:
        return paddle.optimizer.AdamW(
            learning_rate=rate, parameters=model.parameters(), weight_decay=plan.weight_decay
        )
    return paddle.optimizer.Adam(learning_rate=rate, parameters=model.parameters())


def _sum_across_ranks(values: np.ndarray) -> np.ndarray:
    tensor = paddle.to_tensor(values.astype(np.float64))
    dist.all_reduce(tensor)
    result: np.ndarray = tensor.numpy()
    return result


def _average_buffers(model: nn.Layer, world: int) -> None:
    """Average batch-norm running statistics, which DataParallel leaves per rank.

    Paddle keeps them as non-trainable parameters (``_mean``, ``_variance``), not buffers.
    """
    frozen = [p for p in model.parameters() if not p.trainable]
    for tensor in [*frozen, *model.buffers()]:
        if tensor.dtype in (paddle.float32, paddle.float64):
            dist.all_reduce(tensor)
            tensor.set_value(tensor / world)
