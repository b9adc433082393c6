"""Checkpoints: what they hold, that a crash at any step leaves one usable, that a killed run
resumes to the very same weights, and that another run's checkpoint is refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import paddle
import pytest

import mnistcnn
from mnistcnn import (
    DigitClassifier,
    EpochResult,
    History,
    MnistDataset,
    build_model,
    train,
)
from mnistcnn._errors import CheckpointError
from mnistcnn._formats._unpickle import read_state
from mnistcnn._training import _checkpoint
from mnistcnn._training import _loop as _training

from ..conftest import cli


def weights_of(network: paddle.nn.Layer) -> dict[str, np.ndarray]:
    return {name: value.numpy() for name, value in network.state_dict().items()}


def assert_same_weights(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert sorted(actual) == sorted(expected)
    assert any(name.endswith("_mean") for name in expected)  # batch-norm statistics compared too
    for name in expected:
        assert np.array_equal(np.asarray(actual[name]), np.asarray(expected[name])), name


@pytest.fixture(scope="module")
def small(train_set: MnistDataset) -> tuple[np.ndarray, np.ndarray]:
    return train_set.images[:512], train_set.labels[:512]


@pytest.fixture(scope="module")
def finished_run(
    small: tuple[np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, paddle.nn.Layer, History]:
    """The checkpoints of a finished 2-epoch run of the fast recipe (copy them to change them)."""
    directory = tmp_path_factory.mktemp("checkpoints") / "run"
    network = build_model("fast", seed=0)
    history = train(
        network,
        small,
        recipe="fast",
        batch_size=128,
        seed=0,
        checkpoint_dir=directory,
        progress=False,
    )
    return directory, network, history


def test_a_checkpoint_holds_the_whole_state(
    finished_run: tuple[Path, paddle.nn.Layer, History],
) -> None:
    directory, network, history = finished_run
    assert sorted(p.name for p in directory.iterdir()) == ["epoch-0002", "latest"]
    assert (directory / "latest").read_text() == "epoch-0002\n"
    current = directory / "epoch-0002"
    assert sorted(p.name for p in current.iterdir()) == [
        "model.pdparams",
        "optimizer.pdopt",
        "state.json",
    ]
    # The weights, through the restricted reader, are the trained network's, bit for bit.
    assert_same_weights(read_state(current / "model.pdparams"), weights_of(network))
    # Adam's moments for every trainable parameter, keyed by the network's own names.
    moments = read_state(current / "optimizer.pdopt")
    trainable = {name for name, p in network.named_parameters() if p.trainable}
    assert set(moments) == trainable
    assert all({"moment1_0", "moment2_0", "beta1_pow_acc_0"} <= set(m) for m in moments.values())
    assert not any(np.all(m["moment1_0"] == 0) for m in moments.values())

    state = json.loads((current / "state.json").read_text())
    assert state["epoch"] == 2
    config = state["config"]
    assert config["recipe"]["name"] == "fast" and config["recipe"]["batch_size"] == 128
    assert (config["architecture"], config["seed"], config["world_size"]) == ("fast", 0, 1)
    assert config["data"]["images"] == 512 and len(config["data"]["sha256"]) == 64
    assert History.from_dict(state["history"]) == history
    # The one-cycle schedule has taken 2 epochs x 4 steps.
    assert state["schedule"]["last_epoch"] == 8
    (rank,) = state["ranks"]
    assert rank["order_rng"]["bit_generator"] == "PCG64"
    assert rank["augment_rng"]["state"] != rank["order_rng"]["state"]
    assert len(rank["paddle_rng"]) == len(paddle.get_rng_state())


def test_a_finished_run_is_not_repeated(
    finished_run: tuple[Path, paddle.nn.Layer, History], small: tuple[np.ndarray, np.ndarray]
) -> None:
    directory, network, history = finished_run
    fresh = build_model("fast", seed=1)
    again = train(
        fresh, small, recipe="fast", batch_size=128, checkpoint_dir=directory, progress=False
    )
    assert again == history  # the seed too: none given, the checkpoint's is used
    assert_same_weights(weights_of(fresh), weights_of(network))


def test_a_chosen_seed_is_stored_and_reused(
    small: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    first = train(
        build_model("fast"),
        (small[0][:256], small[1][:256]),
        recipe="fast",
        epochs=1,
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert first.seed is not None
    stored = json.loads((tmp_path / "epoch-0001" / "state.json").read_text())
    assert stored["config"]["seed"] == first.seed
    again = train(
        build_model("fast"),
        (small[0][:256], small[1][:256]),
        recipe="fast",
        epochs=1,
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert again.seed == first.seed


def interrupt_after(calls: int) -> Callable[[np.ndarray], np.ndarray]:
    """A stand-in for the training loop's input conversion that raises KeyboardInterrupt on
    its ``calls``-th use: an interruption in the middle of an epoch."""
    original = _training.to_model_input  # type: ignore[attr-defined]
    count = 0

    def convert(images: np.ndarray) -> np.ndarray:
        nonlocal count
        count += 1
        if count == calls:
            raise KeyboardInterrupt
        return original(images)

    return convert


@pytest.mark.slow
def test_resume_in_another_network_gives_identical_weights(
    small: tuple[np.ndarray, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The best recipe draws from every generator: batch order, augmentation (numpy), dropout
    # (Paddle); AdamW with a one-cycle schedule and label smoothing.
    data = (small[0][:384], small[1][:384])
    options: dict[str, Any] = {"recipe": "best", "epochs": 3, "batch_size": 96, "seed": 3}
    reference = build_model("best", seed=3)
    expected = train(reference, data, progress=False, **options)

    monkeypatch.setattr(_training, "to_model_input", interrupt_after(4 + 2))  # epoch 2, step 2
    with pytest.raises(KeyboardInterrupt):
        train(build_model("best", seed=3), data, checkpoint_dir=tmp_path, progress=False, **options)
    assert (tmp_path / "latest").read_text() == "epoch-0001\n"
    monkeypatch.undo()

    # A network built later in the process: Paddle's global parameter names differ.
    resumed = build_model("best", seed=99)
    history = train(resumed, data, checkpoint_dir=tmp_path, progress=False, **options)
    assert_same_weights(weights_of(resumed), weights_of(reference))
    assert [e.loss for e in history.epochs] == [e.loss for e in expected.epochs]


class CrashError(Exception):
    """Stands for the process dying at one step of a checkpoint write."""


def crash_at(step: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the ``step``-th durable operation of a checkpoint write (flush, rename, removal)
    raise :class:`CrashError`; returns a counter of the operations done."""
    done = [0]

    def counted(function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            if done[0] == step:
                raise CrashError
            done[0] += 1
            return function(*args, **kwargs)

        return run

    monkeypatch.setattr(_checkpoint, "fsync", counted(_checkpoint.fsync))
    monkeypatch.setattr(os, "replace", counted(os.replace))
    monkeypatch.setattr(shutil, "rmtree", counted(shutil.rmtree))
    return done


def test_a_crash_at_any_step_of_a_write_leaves_a_whole_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = build_model("fast", seed=0)
    network.eval()  # one step, only to give the optimizer some state
    optimizer = paddle.optimizer.Adam(parameters=network.parameters())
    network(paddle.rand([2, 1, 28, 28])).sum().backward()
    optimizer.step()
    rng = np.random.default_rng(0)
    config = {"recipe": {}, "seed": 0}

    def history(epochs: int) -> History:
        results = tuple(EpochResult(e, 1.0 / e, 0.5, None, None, 1.0) for e in range(1, epochs + 1))
        return History(results, mnistcnn.get_recipe("fast"), 1, 0)

    def write(directory: Path, epoch: int) -> None:
        _checkpoint.write(
            directory,
            epoch=epoch,
            config=config,
            history=history(epoch),
            model=network,
            optimizer=optimizer,
            schedule=None,
            ranks=[_checkpoint.RankState.capture(rng, rng)],
        )

    pristine = tmp_path / "pristine"
    pristine.mkdir()
    write(pristine, 1)
    first = weights_of(network)
    for parameter in network.parameters():  # epoch 2's weights differ from epoch 1's
        parameter.set_value(parameter + 1.0)
    second = weights_of(network)

    outcomes = []
    for step in range(100):
        directory = tmp_path / f"crash-{step}"
        shutil.copytree(pristine, directory)
        with monkeypatch.context() as patch:
            crash_at(step, patch)
            try:
                write(directory, 2)
            except CrashError:
                crashed = True
            else:
                crashed = False
        checkpoint = _checkpoint.read(directory)  # the invariant: always a whole checkpoint
        assert checkpoint is not None
        assert_same_weights(checkpoint.model, first if checkpoint.epoch == 1 else second)
        assert len(checkpoint.history.epochs) == checkpoint.epoch
        _checkpoint.clean(directory)  # what the next run does first
        assert sorted(p.name for p in directory.iterdir()) == [
            f"epoch-000{checkpoint.epoch}",
            "latest",
        ]
        outcomes.append(checkpoint.epoch)
        if not crashed:
            break
    # Crashes before the pointer's rename leave epoch 1, after it epoch 2; the last write
    # completed. At least the 5 flushes of the new files come before the commit point.
    assert outcomes[-1] == 2 and len(outcomes) > 6
    assert outcomes == sorted(outcomes) and outcomes.count(1) >= 5 and outcomes.count(2) >= 2


@pytest.fixture
def copy_of(finished_run: tuple[Path, paddle.nn.Layer, History], tmp_path: Path) -> Path:
    directory = tmp_path / "run"
    shutil.copytree(finished_run[0], directory)
    return directory


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 3}, "epochs 2 (checkpoint) vs 3 (this run)"),
        ({"batch_size": 64}, "batch_size 128 (checkpoint) vs 64 (this run)"),
        ({"learning_rate": 0.01}, "learning_rate 0.02 (checkpoint) vs 0.01 (this run)"),
        ({"recipe": "tutorial", "epochs": 2}, "name 'fast' (checkpoint) vs 'tutorial'"),
        ({"seed": 1}, "seed 0 (checkpoint) vs 1 (this run)"),
        ({"architecture": "tutorial"}, "architecture 'fast' (checkpoint) vs 'tutorial'"),
        ({"images": 500}, "training data of 512 images"),
        ({"flip": True}, "training data of 512 images (sha256"),
        ({"procs": 2}, "world size 1 (checkpoint) vs 2 (this run)"),
    ],
)
def test_another_runs_checkpoint_is_refused(
    copy_of: Path,
    small: tuple[np.ndarray, np.ndarray],
    change: dict[str, Any],
    message: str,
) -> None:
    images, labels = small
    options: dict[str, Any] = {"recipe": "fast", "batch_size": 128, "seed": 0}
    options.update({k: v for k, v in change.items() if k not in ("architecture", "images", "flip")})
    network = build_model(change.get("architecture", "fast"))
    images = images[: change.get("images", len(images))]
    labels = labels[: len(images)]
    if change.get("flip"):
        images = images[:, ::-1]
    with pytest.raises(
        CheckpointError, match="holds a checkpoint of a different training run"
    ) as info:
        train(network, (images, labels), checkpoint_dir=copy_of, progress=False, **options)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    assert (copy_of / "latest").read_text() == "epoch-0002\n"  # nothing was changed


def test_a_damaged_checkpoint_is_a_clear_error(
    copy_of: Path, small: tuple[np.ndarray, np.ndarray]
) -> None:
    def resume() -> None:
        train(
            build_model("fast"),
            small,
            recipe="fast",
            batch_size=128,
            checkpoint_dir=copy_of,
            progress=False,
        )

    weights = copy_of / "epoch-0002" / "model.pdparams"
    intact = weights.read_bytes()
    weights.write_bytes(intact[: len(intact) // 2])
    with pytest.raises(CheckpointError, match="epoch-0002: damaged"):
        resume()
    weights.write_bytes(intact)

    state = copy_of / "epoch-0002" / "state.json"
    document = json.loads(state.read_text())
    state.write_text(json.dumps({**document, "format": 99}))
    with pytest.raises(CheckpointError, match="checkpoint format 99; this version"):
        resume()

    (copy_of / "latest").write_text("../elsewhere\n")
    with pytest.raises(CheckpointError, match="not a checkpoint in"):
        resume()


def test_stale_temporaries_are_removed_by_the_next_run(
    copy_of: Path, small: tuple[np.ndarray, np.ndarray]
) -> None:
    (copy_of / ".tmp-epoch-0003-deadbeef").mkdir()
    (copy_of / ".tmp-epoch-0003-deadbeef" / "model.pdparams").write_bytes(b"half")
    (copy_of / ".tmp-latest-deadbeef").write_text("epoch-0003\n")
    (copy_of / "epoch-0003").mkdir()  # renamed, but killed before the pointer moved
    train(
        build_model("fast"),
        small,
        recipe="fast",
        batch_size=128,
        checkpoint_dir=copy_of,
        progress=False,
    )
    assert sorted(p.name for p in copy_of.iterdir()) == ["epoch-0002", "latest"]


# Killing real training processes: the CLI as users run it.


def start_training(directory: Path, output: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mnistcnn",
            "train",
            *TRAIN_ARGS,
            *extra,
            "--checkpoint-dir",
            str(directory),
            "-o",
            str(output),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, to find and end its workers
    )


TRAIN_ARGS = ["--recipe", "fast", "--epochs", "3", "--seed", "0", "-q", "--format", "dynamic"]


def kill_in_second_epoch(process: subprocess.Popen[str], directory: Path) -> None:
    """SIGKILL ``process`` once the first checkpoint exists and the second epoch is under way."""
    deadline = time.monotonic() + 120
    while not (directory / "latest").exists():
        if process.poll() is not None:
            pytest.fail(f"training ended before its first checkpoint: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no checkpoint after 120 s")
        time.sleep(0.02)
    time.sleep(0.15)  # into the second epoch, which takes over a second
    process.send_signal(signal.SIGKILL)
    process.communicate()


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.cli
@pytest.mark.slow
@pytest.mark.xdist_group("gloo")  # gloo processes: one such test at a time under xdist
@pytest.mark.parametrize("procs", [1, 2])
def test_killed_mid_epoch_resumes_to_bit_identical_weights(
    procs: int, train_set: MnistDataset, tmp_path: Path, mnist_dir: Path
) -> None:
    limit = 4000 if procs == 1 else 6000  # about 2 s per epoch either way
    reference = build_model(mnistcnn.get_recipe("fast").architecture, seed=0)
    expected = train(
        reference,
        (train_set.images[:limit], train_set.labels[:limit]),
        recipe="fast",
        epochs=3,
        seed=0,
        procs=procs,
        progress=False,
    )
    directory = tmp_path / "checkpoints"
    extra = ["--limit", str(limit), "--procs", str(procs)]
    process = start_training(directory, tmp_path / "killed", *extra)
    try:
        kill_in_second_epoch(process, directory)  # only the first process: workers must follow
        deadline = time.monotonic() + 10
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(process.pid), "a worker outlived its parent"
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    assert (directory / "latest").read_text() == "epoch-0001\n"  # killed in epoch 2
    assert not (tmp_path / "killed.pdparams").exists()

    resumed = cli(
        "train",
        *TRAIN_ARGS,
        *extra,
        "--checkpoint-dir",
        directory,
        "-o",
        tmp_path / "resumed",
        env={"MNISTCNN_DATA": str(mnist_dir)},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"on {procs} process{'es' if procs > 1 else ''}:" in resumed.stdout
    classifier = DigitClassifier.load(tmp_path / "resumed", backend="dynamic")
    assert classifier.network is not None
    assert_same_weights(weights_of(classifier.network), weights_of(reference))
    history = classifier.metadata.history
    assert history is not None and history.world_size == procs
    assert [e.loss for e in history.epochs] == [e.loss for e in expected.epochs]
    assert sorted(p.name for p in directory.iterdir()) == ["epoch-0003", "latest"]

    if procs == 1:  # the same directory with other settings: one clear line, nothing changed
        refused = cli(
            "train",
            *TRAIN_ARGS,
            *extra,
            "--epochs",
            "4",
            "--checkpoint-dir",
            directory,
            "-o",
            tmp_path / "other",
            env={"MNISTCNN_DATA": str(mnist_dir)},
        )
        assert refused.returncode == 1
        (line,) = refused.stderr.strip().splitlines()[-1:]
        assert line.startswith("mnistcnn train: error: ")
        assert "epochs 3 (checkpoint) vs 4 (this run)" in line and "Traceback" not in refused.stderr
        assert sorted(p.name for p in directory.iterdir()) == ["epoch-0003", "latest"]
