from __future__ import annotations

import dataclasses

import numpy as np
import paddle
import pytest

from mnistcnn import (
    Augmentation,
    DigitClassifier,
    MnistDataset,
    Recipe,
    available_recipes,
    build_model,
    get_recipe,
    train,
)
from mnistcnn._training._loop import _schedule


def test_registry() -> None:
    assert available_recipes() == ["best", "fast", "reader", "tutorial"]
    tutorial = get_recipe("tutorial")
    assert (
        tutorial.architecture,
        tutorial.epochs,
        tutorial.batch_size,
        tutorial.learning_rate,
    ) == (
        "tutorial",
        5,
        64,
        1e-3,
    )
    assert tutorial.schedule == "constant" and not tutorial.augmentation.active
    assert get_recipe("best").augmentation.active
    with pytest.raises(
        ValueError, match=r"unknown recipe 'slow'; available: best, fast, reader, tutorial"
    ):
        get_recipe("slow")


def test_every_recipe_architecture_exists_and_outputs_logits() -> None:
    for name in available_recipes():
        net = build_model(get_recipe(name).architecture, seed=0)
        net.eval()
        if name == "reader":  # a line of digits: scores for 11 classes every 4 columns
            assert net(paddle.rand([3, 1, 32, 64])).shape == [3, 16, 11]
            with pytest.raises(ValueError, match="reads whole lines of digits"):
                DigitClassifier(net)
        else:
            assert net(paddle.rand([3, 1, 28, 28])).shape == [3, 10]


@pytest.mark.slow
def test_fast_recipe_learns_quickly(train_set: MnistDataset, test_set: MnistDataset) -> None:
    net = build_model(get_recipe("fast").architecture, seed=0)
    history = train(
        net,
        (train_set.images[:12_000], train_set.labels[:12_000]),
        recipe="fast",
        epochs=1,
        batch_size=64,
        seed=0,
        progress=False,
    )
    assert (history.recipe.name, history.recipe.epochs, history.recipe.batch_size) == (
        "fast",
        1,
        64,
    )
    accuracy = (DigitClassifier(net).predict(test_set.images) == test_set.labels).mean()
    assert accuracy >= 0.96, accuracy


@pytest.mark.slow
def test_best_recipe_runs_with_augmentation(train_set: MnistDataset) -> None:
    net = build_model("best", seed=0)
    history = train(
        net,
        (train_set.images[:2048], train_set.labels[:2048]),
        recipe="best",
        epochs=2,
        seed=0,
        progress=False,
    )
    first, second = history.epochs
    assert second.loss < first.loss and second.accuracy > first.accuracy
    assert second.accuracy > 0.6
    # The history records the recipe as run: the best recipe, with the 2 epochs asked for.
    assert history.recipe == dataclasses.replace(get_recipe("best"), epochs=2)
    assert history.recipe.label_smoothing > 0 and history.recipe.augmentation.active


def test_onecycle_schedule_peaks_at_the_learning_rate() -> None:
    recipe = Recipe("r", "fast", epochs=1, batch_size=8, learning_rate=0.1, schedule="onecycle")
    schedule = _schedule(recipe, total_steps=100)
    assert schedule is not None
    rates = []
    for _ in range(100):
        rates.append(schedule.get_lr())
        schedule.step()
    assert max(rates) == pytest.approx(0.1, rel=1e-3)
    assert rates[0] < 0.01 and rates[-1] < 0.001
    assert int(np.argmax(rates)) == pytest.approx(25, abs=2)


def test_onecycle_schedule_of_a_tiny_run() -> None:
    # 4 steps in all (e.g. --limit 1000 at batch 256): Paddle's OneCycleLR divided by zero.
    schedule = _schedule(get_recipe("fast"), total_steps=4)
    assert schedule is not None
    rates = []
    for _ in range(4):
        rates.append(schedule.get_lr())
        schedule.step()
    assert all(np.isfinite(rates)) and max(rates) <= get_recipe("fast").learning_rate


def test_cosine_and_constant_schedules() -> None:
    cosine = _schedule(Recipe("r", "fast", 1, 8, 0.1, schedule="cosine"), total_steps=10)
    assert cosine is not None and cosine.get_lr() == pytest.approx(0.1)
    assert _schedule(Recipe("r", "fast", 1, 8, 0.1), total_steps=10) is None
    with pytest.raises(ValueError, match="schedule must be"):
        _schedule(Recipe("r", "fast", 1, 8, 0.1, schedule="linear"), total_steps=10)  # type: ignore[arg-type]


def test_custom_recipe_object(train_set: MnistDataset) -> None:
    recipe = Recipe("mine", "fast", epochs=1, batch_size=32, learning_rate=0.01, weight_decay=0.01)
    history = train(
        build_model("fast"),
        (train_set.images[:256], train_set.labels[:256]),
        recipe=recipe,
        progress=False,
    )
    assert history.recipe == recipe


class TestAugmentation:
    def batch(self, test_set: MnistDataset) -> paddle.Tensor:
        return paddle.to_tensor(test_set.images[:16, None].astype("float32") / 255)

    def test_nothing_to_do_is_the_identity(self, test_set: MnistDataset) -> None:
        x = self.batch(test_set)
        assert not Augmentation().active
        np.testing.assert_allclose(
            Augmentation().apply(x, np.random.default_rng(0)).numpy(), x.numpy(), atol=1e-5
        )

    def test_distorts_reproducibly_and_keeps_the_ink(self, test_set: MnistDataset) -> None:
        x = self.batch(test_set)
        augmentation = Augmentation(rotation=15, scale=0.1, shift=2, elastic=1.5)
        a = augmentation.apply(x, np.random.default_rng(1)).numpy()
        b = augmentation.apply(x, np.random.default_rng(1)).numpy()
        c = augmentation.apply(x, np.random.default_rng(2)).numpy()
        assert a.shape == (16, 1, 28, 28)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        assert np.abs(a - x.numpy()).mean() > 0.02
        ink_ratio = a.sum(axis=(1, 2, 3)) / x.numpy().sum(axis=(1, 2, 3))
        assert ((ink_ratio > 0.7) & (ink_ratio < 1.4)).all()
