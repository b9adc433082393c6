from __future__ import annotations

import numpy as np
import paddle
import pytest

from mnistcnn import DigitClassifier, History, MnistDataset, build_model, evaluate, train

from ..tutorial_reference import tutorial_network


def test_short_real_run_clears_an_accuracy_bar(
    trained: tuple[paddle.nn.Layer, History], test_set: MnistDataset
) -> None:
    network, history = trained
    images, labels = test_set.images[:3000], test_set.labels[:3000]
    accuracy = float((DigitClassifier(network).predict(images) == labels).mean())
    # One epoch on 4,000 training images: the tutorial network gets about 93%.
    assert accuracy >= 0.9, accuracy
    (epoch,) = history.epochs
    assert epoch.epoch == 1 and epoch.seconds > 0
    assert epoch.loss < 0.8 and epoch.accuracy > 0.75  # 0.63 and 0.80, over the one epoch
    assert history.loss == [epoch.loss] and history.seconds == epoch.seconds


def test_same_seed_same_weights(train_set: MnistDataset) -> None:
    data = (train_set.images[:256], train_set.labels[:256])
    runs = []
    for _ in range(2):
        net = build_model(seed=7)
        train(net, data, epochs=1, batch_size=64, seed=7, progress=False)
        runs.append(net.state_dict())
    other = build_model(seed=7)
    train(other, data, epochs=1, batch_size=64, seed=8, progress=False)
    assert all(np.array_equal(runs[0][k].numpy(), runs[1][k].numpy()) for k in runs[0])
    assert not np.array_equal(runs[0]["7.weight"].numpy(), other.state_dict()["7.weight"].numpy())


@pytest.mark.slow
def test_validation_is_measured_each_epoch(train_set: MnistDataset, test_set: MnistDataset) -> None:
    net = build_model(seed=0)
    val = (test_set.images[:300], test_set.labels[:300])
    history = train(
        net,
        (train_set.images[:512], train_set.labels[:512]),
        val=val,
        epochs=2,
        seed=0,
        progress=False,
    )
    first, last = history.epochs
    # The last epoch's figures are those of the trained network, measured independently.
    report = evaluate(DigitClassifier(net), val)
    assert last.val_accuracy == report.accuracy and last.val_loss == report.loss
    # 1,024 images seen: about 60% after the first epoch, 72% after the second.
    assert first.val_accuracy is not None and first.val_loss is not None
    assert last.val_accuracy > first.val_accuracy and last.val_loss < first.val_loss
    assert last.val_accuracy >= 0.65


def test_progress_bar_reports_loss_and_accuracy(
    train_set: MnistDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    train(
        build_model(seed=0),
        (train_set.images[:128], train_set.labels[:128]),
        epochs=1,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "128/128" in err and "loss" in err and "acc" in err


def test_softmax_head_is_refused() -> None:
    data = (np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="ends in Softmax"):
        train(tutorial_network(), data, epochs=1, progress=False)


@pytest.mark.parametrize("options", [{"epochs": 0}, {"batch_size": 0}, {"learning_rate": 0.0}])
def test_bad_options_are_value_errors(options: dict[str, float]) -> None:
    data = (np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="must be at least 1 and learning_rate positive"):
        train(build_model(), data, progress=False, **options)  # type: ignore[arg-type]


def test_bad_data_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="uint8 of shape"):
        train(build_model(), (np.zeros((4, 28, 28), np.float32), np.zeros(4)), progress=False)
    with pytest.raises(TypeError, match="dataset from load_data"):
        train(build_model(), [1, 2, 3], progress=False)  # type: ignore[arg-type]
