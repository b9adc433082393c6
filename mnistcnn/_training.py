"""Training a network on in-memory digits, on one process or data-parallel on several.

The whole split is one uint8 array; each step slices a batch and converts it with the shared
:func:`~mnistcnn._preprocess.to_model_input`, so the input pipeline costs next to nothing beside
the network (Paddle's per-sample ``DataLoader`` path costs about 5 s per epoch).

Data-parallel: when the process is one of several started by ``paddle.distributed.launch`` or
``paddle.distributed.spawn`` (gloo on CPU), every rank draws the same batch order from the shared
seed and takes its share of each batch; gradients are averaged by :class:`paddle.DataParallel`
and batch-norm statistics at the end of each epoch, so all ranks end with identical weights.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
import paddle
import paddle.distributed as dist
from paddle import nn

from ._classifier import DigitClassifier
from ._data import MnistDataset
from ._evaluation import as_arrays, evaluate
from ._history import EpochResult, History
from ._models import ends_with_softmax
from ._preprocess import to_model_input
from ._progress import ProgressBar
from ._recipes import Recipe, get_recipe

__all__ = ["EpochResult", "History", "train"]

logger = logging.getLogger(__name__)


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
    progress: bool = True,
) -> History:
    """Train ``model`` in place with a recipe's optimiser, schedule and augmentation.

    The default recipe is the Paddle tutorial's: Adam at 1e-3, batch 64, 5 epochs, plain
    cross-entropy (on logits: no double softmax). See :func:`mnistcnn.get_recipe` for the
    others; ``epochs``, ``batch_size`` and ``learning_rate`` override the recipe's values.

    Run under ``python -m paddle.distributed.launch --nproc_per_node N`` (or through
    ``mnistcnn train --procs N``) it trains data-parallel: ``batch_size`` is then the global
    batch, split across the processes.

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
            the same ``seed`` for identical initial weights.
        progress: show a progress bar with the live loss and accuracy on stderr.

    Returns:
        A :class:`History` with one :class:`EpochResult` per epoch.

    Raises:
        ValueError: a non-positive ``epochs``, ``batch_size`` or ``learning_rate``, an unknown
            recipe, or a model that ends in ``Softmax`` (the loss would apply softmax twice).
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

    world, rank = _parallel_context()
    if world > 1 and plan.batch_size < world:
        raise ValueError(f"batch_size {plan.batch_size} is smaller than the {world} processes.")
    seed = _shared_seed(seed, world)
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
    with warnings.catch_warnings():
        # Paddle warns on every batch-norm layer in training mode about a change of its own.
        warnings.filterwarnings("ignore", message="When training, we now always track global")
        results = tuple(run.epoch(e, images, labels, val) for e in range(1, plan.epochs + 1))
    model.eval()
    return History(results, recipe=plan, world_size=world, seed=seed)


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
        bar = ProgressBar(len(images), desc=f"epoch {epoch}/{plan.epochs}", enabled=self.show)
        with bar:
            for first in range(0, len(images), plan.batch_size):
                batch = order[first : first + plan.batch_size]
                mine = batch[self.rank :: self.world]
                x = paddle.to_tensor(to_model_input(images[mine]))
                y = paddle.to_tensor(labels[mine])
                if plan.augmentation.active:
                    x = plan.augmentation.apply(x, self.augment_rng)
                logits = self.network(x)
                loss = nn.functional.cross_entropy(logits, y, label_smoothing=plan.label_smoothing)
                loss.backward()
                self.optimizer.step()
                self.optimizer.clear_grad()
                if self.schedule is not None:
                    self.schedule.step()
                correct = int((logits.argmax(axis=1) == y).astype("int64").sum())
                totals += (float(loss) * len(mine), correct, len(mine))
                bar.update(len(batch), loss=totals[0] / totals[2], acc=totals[1] / totals[2])
        seconds = time.perf_counter() - start
        if self.world > 1:
            totals = _sum_across_ranks(totals)
            _average_buffers(self.model, self.world)
        val_accuracy = val_loss = None
        if val is not None:
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


def _parallel_context() -> tuple[int, int]:
    """(world size, rank); initialises Paddle's collective environment when launched for it."""
    world = dist.get_world_size()
    if world > 1 and not dist.is_initialized():
        dist.init_parallel_env()
    return world, dist.get_rank() if world > 1 else 0


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
            total_steps=total_steps,
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
