"""Training recipes: a named, documented combination of network, schedule and augmentation."""

from __future__ import annotations

from .._data._augment import Augmentation
from .._formats._history import Recipe

__all__ = ["available_recipes", "get_recipe"]

_RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="tutorial",
            architecture="tutorial",
            epochs=5,
            batch_size=64,
            learning_rate=1e-3,
            description="The Paddle tutorial's network and schedule (Adam 1e-3, 5 epochs, batch "
            "64) with its double softmax fixed: about 99.0-99.1% in about 15 minutes on one "
            "process (864-946 s measured).",
        ),
        Recipe(
            name="fast",
            architecture="tiny",
            epochs=2,
            batch_size=128,
            learning_rate=0.02,
            schedule="onecycle",
            description="The shortest way to 99%: a network with a thirtieth of the tutorial's "
            "FLOPs (8 and 16 channels, batch norm, pooling before the activation) and a "
            "one-cycle schedule over two epochs; 23-30 s from start to a saved model with "
            "procs=2 on 2 CPU cores, over 30 times faster than the tutorial recipe.",
        ),
        Recipe(
            name="best",
            architecture="best",
            epochs=20,
            batch_size=128,
            learning_rate=0.005,
            schedule="onecycle",
            weight_decay=1e-4,
            label_smoothing=0.05,
            augmentation=Augmentation(rotation=12.0, scale=0.12, shift=2.5, elastic=1.5),
            description="A three-convolution batch-norm network (fewer FLOPs than the "
            "tutorial's), on-the-fly rotation, scale, shift and elastic distortion, a one-cycle "
            "schedule and label smoothing: the shipped weights, about 15 minutes on 2 cores.",
        ),
        Recipe(
            name="reader",
            architecture="reader",
            epochs=16,
            batch_size=320,
            learning_rate=0.003,
            schedule="onecycle",
            weight_decay=1e-4,
            description="The whole-number reader (CTC): numbers composed on the fly from the "
            "training digits, touching, overlapping, slanted or apart, at varied size, stroke "
            "and print quality; ``batch_size`` counts digits (about 55 numbers a step).",
        ),
    )
}


def available_recipes() -> list[str]:
    """Names accepted by :func:`get_recipe` and ``train(recipe=...)``, sorted."""
    return sorted(_RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        ValueError: ``name`` is not a known recipe.

    Examples:
        >>> get_recipe("fast").architecture
        'tiny'
    """
    if name not in _RECIPES:
        raise ValueError(f"unknown recipe {name!r}; available: {', '.join(available_recipes())}.")
    return _RECIPES[name]
