"""What a training run did, epoch by epoch: returned by ``train`` and kept in a model's metadata.

Plain data with no Paddle in it, so a saved model can carry the record of how it was trained
(``ModelMetadata.history``) without its loader importing the training code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ._recipes import Recipe

__all__ = ["EpochResult", "History"]


@dataclass(frozen=True)
class EpochResult:
    """One epoch of training.

    Attributes:
        epoch: 1-based epoch number.
        loss: mean training cross-entropy over the epoch.
        accuracy: training accuracy over the epoch (measured while the weights changed, on
            augmented images if the recipe augments).
        val_accuracy: accuracy on the validation data after the epoch, if any was given.
        val_loss: validation cross-entropy after the epoch, if any.
        seconds: wall time of the epoch's training steps (validation excluded).
    """

    epoch: int
    loss: float
    accuracy: float
    val_accuracy: float | None
    val_loss: float | None
    seconds: float


@dataclass(frozen=True)
class History:
    """What :func:`mnistcnn.train` did, epoch by epoch, with which recipe and seed.

    Attributes:
        epochs: one :class:`EpochResult` per epoch.
        recipe: the recipe as run (with any overrides of epochs, batch size or rate applied).
        world_size: number of data-parallel processes.
        seed: the seed the run used (chosen at random when none was given), so that
            ``build_model(arch, seed=s)`` + ``train(..., seed=s)`` repeats it.

    Examples:
        >>> from mnistcnn import get_recipe
        >>> h = History((EpochResult(1, 0.31, 0.91, 0.97, 0.09, 12.5),), get_recipe("fast"))
        >>> History.from_dict(h.to_dict()) == h
        True
    """

    epochs: tuple[EpochResult, ...]
    recipe: Recipe
    world_size: int = 1
    seed: int | None = None

    @property
    def loss(self) -> list[float]:
        return [e.loss for e in self.epochs]

    @property
    def accuracy(self) -> list[float]:
        return [e.accuracy for e in self.epochs]

    @property
    def val_accuracy(self) -> list[float | None]:
        return [e.val_accuracy for e in self.epochs]

    @property
    def seconds(self) -> float:
        """Total training wall time."""
        return sum(e.seconds for e in self.epochs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back."""
        return {
            "recipe": asdict(self.recipe),
            "world_size": self.world_size,
            "seed": self.seed,
            "epochs": [asdict(e) for e in self.epochs],
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict`'s output.

        Raises:
            ValueError: a field is missing, of the wrong type or not finite.
        """
        from ._augment import Augmentation

        try:
            recipe_fields = dict(document["recipe"])
            recipe_fields["augmentation"] = Augmentation(**recipe_fields.get("augmentation", {}))
            recipe = Recipe(**recipe_fields)
            epochs = tuple(
                EpochResult(
                    epoch=int(e["epoch"]),
                    loss=float(e["loss"]),
                    accuracy=float(e["accuracy"]),
                    val_accuracy=_optional_float(e["val_accuracy"]),
                    val_loss=_optional_float(e["val_loss"]),
                    seconds=float(e["seconds"]),
                )
                for e in document["epochs"]
            )
            world_size = int(document.get("world_size", 1))
            seed = document.get("seed")
            seed = None if seed is None else int(seed)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a training history ({exc!r}).") from exc
        numbers = [v for e in epochs for v in (e.loss, e.accuracy, e.val_accuracy, e.val_loss)]
        if not all(v is None or math.isfinite(v) for v in numbers):
            raise ValueError("not a training history: a loss or accuracy is not finite.")
        return cls(epochs, recipe=recipe, world_size=world_size, seed=seed)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
