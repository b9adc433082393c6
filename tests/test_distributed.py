"""Data-parallel training with Paddle's own launcher: 2 processes, gloo, on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistcnn import DigitClassifier

from .conftest import cli

WORKER = """
import sys
import numpy as np
import pytest
import paddle.distributed as dist
import mnistcnn

train_set = mnistcnn.load_data("train")
network = mnistcnn.build_model("fast", seed=0)
history = mnistcnn.train(
    network, (train_set.images[:9600], train_set.labels[:9600]),
    recipe="fast", epochs=1, batch_size=32, seed=0, progress=True,
)
state = {name: value.numpy() for name, value in network.state_dict().items()}
np.savez(f"{sys.argv[1]}/rank{dist.get_rank()}.npz", world=history.world_size,
         loss=history.epochs[0].loss, **state)
"""


def test_two_processes_train_identical_weights(tmp_path: Path, mnist_dir: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "paddle.distributed.launch",
            "--nproc_per_node",
            "2",
            "--log_dir",
            str(tmp_path / "logs"),
            str(tmp_path / "worker.py"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MNISTCNN_DATA": str(mnist_dir)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rank0, rank1 = np.load(tmp_path / "rank0.npz"), np.load(tmp_path / "rank1.npz")
    assert int(rank0["world"]) == 2
    assert float(rank0["loss"]) == float(rank1["loss"]) < 0.5  # 300 steps: summed across ranks
    weights = [k for k in rank0.files if k not in ("world", "loss")]
    assert any(k.endswith("_mean") for k in weights)  # batch-norm statistics are compared too
    for name in weights:
        assert np.array_equal(rank0[name], rank1[name]), name
    logs = {
        p.name: p.read_text()
        for p in (tmp_path / "logs").iterdir()
        if p.name.startswith("workerlog")
    }
    assert "epoch 1/1" in logs["workerlog.0"]  # only rank 0 shows progress
    assert "epoch 1/1" not in logs["workerlog.1"]


def test_cli_procs_switch(tmp_path: Path, mnist_dir: Path) -> None:
    result = cli(
        "train",
        "--recipe",
        "fast",
        "--procs",
        "2",
        "--epochs",
        "1",
        "--limit",
        "6000",
        "--batch-size",
        "64",
        "--seed",
        "0",
        "-q",
        "-o",
        tmp_path / "m",
        env={"MNISTCNN_DATA": str(mnist_dir)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 2 process(es)" in result.stdout
    assert result.stdout.count("test accuracy") == 1  # rank 0 alone reports and saves
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.93
    assert DigitClassifier.load(tmp_path / "m").metadata.accuracy == pytest.approx(
        accuracy, abs=1e-4
    )


def test_a_failing_worker_is_one_clear_line(tmp_path: Path) -> None:
    result = cli(
        "train",
        "--recipe",
        "fast",
        "--procs",
        "2",
        "--no-download",
        "-o",
        tmp_path / "m",
        env={"MNISTCNN_DATA": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path)},
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mnistcnn train: error: a training process failed:")
    assert "MNIST train files not found" in result.stderr or "MNISTCNN_DATA" in last
    assert "Traceback" not in result.stderr
