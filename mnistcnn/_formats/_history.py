"""The training record: how a model was trained (its :class:`Recipe`) and what each epoch did
(its :class:`History`), returned by ``train`` and kept in a model's metadata.

Plain data with no Paddle and no training code in it, so a saved model carries the record of how
it was trained (``ModelMetadata.history``) and its loader imports neither. A record written by a
newer mnistcnn may hold fields this one does not know: they are kept (and written back when the
model is saved again) but otherwise ignored, so they never stop a model from loading.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from .._choices import Schedule
from .._data._augment import Augmentation

__all__ = ["EpochResult", "History", "Recipe", "Schedule"]


@dataclass(frozen=True)
class Recipe:
    """Everything :func:`mnistcnn.train` needs to reproduce a result besides the seed.

    Attributes:
        name: the registry name.
        architecture: the :func:`mnistcnn.build_model` name.
        epochs: passes over the training set.
        batch_size: images per step (across all processes when training data-parallel).
        learning_rate: Adam's rate; the peak rate for the ``onecycle`` and ``cosine`` schedules.
        schedule: ``"constant"``, ``"onecycle"`` (warm up, then cosine down) or ``"cosine"``.
        weight_decay: decoupled weight decay (AdamW); 0 for plain Adam.
        label_smoothing: probability mass spread over the wrong classes in the loss.
        augmentation: random distortions of training images, if any.
        description: what the recipe is for and what it reaches.
    """

    name: str
    architecture: str
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: Schedule = "constant"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augmentation: Augmentation = field(default_factory=Augmentation)
    description: str = ""


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
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Fields of the record that this mnistcnn does not know (written by a newer one), nested
    as in :meth:`to_dict`: kept so that saving the model again loses nothing, else ignored."""

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
        document = {
            "recipe": asdict(self.recipe),
            "world_size": self.world_size,
            "seed": self.seed,
            "epochs": [asdict(e) for e in self.epochs],
        }
        return _merged(document, self.unknown)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict`'s output (a newer mnistcnn's too: fields this
        one does not know are kept in :attr:`unknown`).

        Raises:
            ValueError: a field is missing, of the wrong type or not finite.
        """
        unknown: dict[str, Any] = {}
        try:
            recipe_fields, unknown_recipe = _split(Recipe, document["recipe"])
            augmentation, unknown_augmentation = _split(
                Augmentation, recipe_fields.get("augmentation", {})
            )
            recipe_fields["augmentation"] = Augmentation(**augmentation)
            recipe = Recipe(**recipe_fields)
            if unknown_augmentation:
                unknown_recipe["augmentation"] = unknown_augmentation
            if unknown_recipe:
                unknown["recipe"] = unknown_recipe
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
            unknown_epochs = [
                {k: v for k, v in e.items() if k not in _EPOCH_FIELDS} for e in document["epochs"]
            ]
            if any(unknown_epochs):
                unknown["epochs"] = unknown_epochs
            world_size = int(document.get("world_size", 1))
            seed = document.get("seed")
            seed = None if seed is None else int(seed)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            # OverflowError: int() of an infinite number (JSON's Infinity, or 1e999)
            raise ValueError(f"not a training history ({exc!r}).") from exc
        numbers = [v for e in epochs for v in (e.loss, e.accuracy, e.val_accuracy, e.val_loss)]
        if not all(v is None or math.isfinite(v) for v in numbers):
            raise ValueError("not a training history: a loss or accuracy is not finite.")
        known = ("recipe", "world_size", "seed", "epochs")
        unknown.update({k: v for k, v in document.items() if k not in known})
        return cls(epochs, recipe=recipe, world_size=world_size, seed=seed, unknown=unknown)


def _split(record: type, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``values`` as the fields ``record`` knows, and those it does not."""
    if not isinstance(values, Mapping):
        raise TypeError(f"expected a mapping of fields, got {type(values).__name__}")
    hints = typing.get_type_hints(record)
    known = {k: v for k, v in values.items() if k in hints}
    for name, value in known.items():
        _check_type(name, value, hints[name])
    return known, {k: v for k, v in values.items() if k not in hints}


def _check_type(name: str, value: Any, hint: Any) -> None:
    """Refuse a value of another type than its field's (``"epochs": "two"``), as JSON gives
    them: a float field takes an int too, no number field takes a bool."""
    if typing.get_origin(hint) is Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"{name} must be one of {list(typing.get_args(hint))}; got {value!r}")
        return
    allowed, what = _JSON_TYPES.get(hint, ((object,), ""))
    if (isinstance(value, bool) and hint is not bool) or not isinstance(value, allowed):
        raise ValueError(f"{name} must be {what}; got {value!r}")


_JSON_TYPES: dict[Any, tuple[tuple[type, ...], str]] = {
    float: ((int, float), "a number"),
    int: ((int,), "an integer"),
    str: ((str,), "a string"),
}


def _merged(document: dict[str, Any], unknown: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with the fields of ``unknown`` added back where they were, known ones kept."""
    for key, value in unknown.items():
        known = document.get(key)
        if isinstance(value, Mapping) and isinstance(known, dict):
            document[key] = _merged(known, value)
        elif isinstance(value, list) and isinstance(known, list) and len(value) == len(known):
            document[key] = [  # per epoch: each entry's own unknown fields
                _merged(entry, extra) if isinstance(entry, dict) else entry
                for entry, extra in zip(known, value, strict=True)
            ]
        elif key not in document:
            document[key] = value
    return document


_EPOCH_FIELDS = frozenset(f.name for f in fields(EpochResult))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
