"""Data-parallel training in 2 processes (gloo, on 127.0.0.1): started by ``train(procs=2)``
and ``mnistcnn train --procs 2``, or by Paddle's own launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paddle
import pytest

from mnistcnn import DigitClassifier, MnistDataset, build_model, train

from ..conftest import cli
from ..tutorial_reference import tutorial_network

# gloo processes pick free ports at start: one such test at a time under pytest-xdist.
pytestmark = pytest.mark.xdist_group("gloo")

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


@pytest.fixture(scope="module")
def launched(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory where each process of a 2-process launch left its weights and logs."""
    tmp_path = tmp_path_factory.mktemp("launch")
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
    return tmp_path


@pytest.mark.slow
def test_two_launched_processes_train_identical_weights(launched: Path) -> None:
    tmp_path = launched
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


@pytest.mark.slow
def test_train_procs_gives_the_launchers_weights(launched: Path, train_set: MnistDataset) -> None:
    network = build_model("fast", seed=0)
    before = {name: value.numpy() for name, value in network.state_dict().items()}
    history = train(
        network,
        (train_set.images[:9600], train_set.labels[:9600]),
        recipe="fast",
        epochs=1,
        batch_size=32,
        seed=0,
        procs=2,
        progress=False,
    )
    assert (history.world_size, history.seed, len(history.epochs)) == (2, 0, 1)
    rank0 = np.load(launched / "rank0.npz")
    assert history.epochs[0].loss == float(rank0["loss"])
    # The caller's network now holds the first process's weights, bit for bit.
    assert not network.training
    for name, value in network.state_dict().items():
        assert np.array_equal(value.numpy(), rank0[name]), name
        assert not np.array_equal(value.numpy(), before[name]), name


def test_procs_needs_a_registry_network() -> None:
    data = (np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64))
    network = paddle.nn.Sequential(*list(tutorial_network())[:-1])  # no Softmax, no name
    with pytest.raises(ValueError, match=r"procs > 1 needs a network from build_model\(name\)"):
        train(network, data, epochs=1, procs=2, progress=False)
    with pytest.raises(ValueError, match="procs must be an integer of at least 1; got 0"):
        train(build_model(), data, epochs=1, procs=0, progress=False)


def test_procs_is_refused_under_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    import paddle.distributed as dist

    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    data = (np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="each process of the launch calls train itself"):
        train(build_model(), data, epochs=1, procs=2, progress=False)


@pytest.mark.cli
@pytest.mark.slow
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
    assert "on 2 processes:" in result.stdout
    assert result.stdout.count("test accuracy") == 1  # rank 0 alone reports and saves
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.93
    assert DigitClassifier.load(tmp_path / "m").metadata.accuracy == pytest.approx(
        accuracy, abs=1e-4
    )


@pytest.mark.cli
def test_missing_data_with_procs_is_one_clear_line(tmp_path: Path) -> None:
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
    # Read before any process starts: the library's own message, not a worker's failure.
    assert result.stderr.startswith("mnistcnn train: error: MNIST train files not found")
    assert "MNISTCNN_DATA" in result.stderr and "Traceback" not in result.stderr


def workers_of(pid: int) -> list[int]:
    """The processes ``pid`` started to train in (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command:
                found.append(int(child))
    return found


@pytest.mark.cli
@pytest.mark.slow
def test_a_killed_worker_is_one_clear_line(tmp_path: Path, mnist_dir: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mnistcnn",
            "train",
            "--recipe",
            "fast",
            "--procs",
            "2",
            "--epochs",
            "20",
            "--limit",
            "6000",
            "-q",
            "-o",
            str(tmp_path / "m"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MNISTCNN_DATA": str(mnist_dir)},
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            workers = workers_of(process.pid)
        assert len(workers) == 2, process.communicate()
        time.sleep(3)  # into training
        os.kill(workers[1], signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("mnistcnn train: error: a training process failed: Process ")
    assert last.endswith(" terminated with signal SIGKILL.")
    assert "Traceback" not in stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker was left running"
    assert not (tmp_path / "m.pdparams").exists()


# --- several machines: two launchers on 127.0.0.1 act as two nodes -----------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_node(
    rank: int, port: int, folder: Path, *options: str, launcher: bool = False
) -> subprocess.Popen[str]:
    """One node of a two-node job: ``mnistcnn train --nnodes 2 ...``, or with ``launcher``,
    the documented command with Paddle's own launcher around ``mnistcnn train``."""
    folder.mkdir(parents=True, exist_ok=True)
    train_options = ["--recipe", "fast", "--limit", "6400", "--batch-size", "128", "--seed", "3",
                     "--epochs", "2", "-o", str(folder / "model"), *options]  # fmt: skip
    if launcher:
        command = [
            sys.executable, "-m", "paddle.distributed.launch", "--nnodes", "2", "--rank",
            str(rank), "--master", f"127.0.0.1:{port}", "--log_dir", str(folder / "logs"),
            "mnistcnn", "train", *train_options,
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "mnistcnn", "train", "--nnodes", "2", "--node-rank", str(rank),
            "--master", f"127.0.0.1:{port}", "--log-dir", str(folder / "logs"), *train_options,
        ]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        start_new_session=True,
    )


def finish(node: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    output, _ = node.communicate(timeout=timeout)
    return node.returncode, output


def logged_digests(output: str) -> list[str]:
    import re

    return re.findall(r"weights sha256 ([0-9a-f]{64}), identical on every process", output)


def weights_digest(prefix: Path) -> str:
    """The digest train() logs, computed from the saved weights."""
    import hashlib

    from safetensors.numpy import load_file

    digest = hashlib.sha256()
    for name, value in sorted(load_file(f"{prefix}.safetensors").items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_two_nodes_train_identical_weights_and_resume_from_the_first_nodes_checkpoint(
    tmp_path: Path,
) -> None:
    # An uninterrupted job: node 0 by `mnistcnn train --nnodes`, node 1 by the documented
    # launcher command; two processes on node 0, one on node 1.
    port = free_port()
    nodes = [
        start_node(0, port, tmp_path / "a0", "--procs", "2", "--format", "safetensors"),
        start_node(1, port, tmp_path / "a1", "--format", "safetensors", launcher=True),
    ]
    (status0, out0), (status1, out1) = finish(nodes[0]), finish(nodes[1])
    assert (status0, status1) == (0, 0), out0 + out1
    assert "on 3 processes:" in out0 and "saved" in out0
    assert not (tmp_path / "a1" / "model.safetensors").exists()  # the first process saves
    digests = logged_digests(out0) + logged_digests(out1)
    assert len(digests) == 2, out0 + out1  # once per machine, after comparing all three
    assert digests[0] == digests[1] == weights_digest(tmp_path / "a0" / "model")

    # The same job with checkpoints, stopped (every process killed) after its first epoch.
    # Node 1 is given a checkpoint directory of its own, never made: only the first
    # process's machine needs the checkpoints.
    checkpoints = [tmp_path / "checkpoints0", tmp_path / "checkpoints1"]

    def checkpointed_job() -> list[subprocess.Popen[str]]:
        port = free_port()
        options = ["--format", "safetensors", "--procs"]
        return [
            start_node(
                r,
                port,
                tmp_path / f"b{r}",
                *options,
                str(2 - r),
                "--checkpoint-dir",
                str(checkpoints[r]),
            )
            for r in (0, 1)
        ]

    nodes = checkpointed_job()
    deadline = time.monotonic() + 300
    latest = checkpoints[0] / "latest"  # written last, once the checkpoint is complete
    while not latest.exists() and time.monotonic() < deadline:
        assert all(node.poll() is None for node in nodes), "the job ended before it was stopped"
        time.sleep(0.1)
    for node in nodes:
        os.killpg(node.pid, signal.SIGKILL)
        node.communicate()
    assert not (tmp_path / "b0" / "model.safetensors").exists()
    assert not checkpoints[1].exists()

    # Run again on both nodes: the job resumes after epoch 1 and ends with the weights of the
    # uninterrupted job, bit for bit.
    nodes = checkpointed_job()
    (status0, out0), (status1, out1) = finish(nodes[0]), finish(nodes[1])
    assert (status0, status1) == (0, 0), out0 + out1
    assert "resuming from" in out0 and "after epoch 1" in out0
    assert logged_digests(out0) == logged_digests(out1) == digests[:1]
    assert weights_digest(tmp_path / "b0" / "model") == digests[0]


@pytest.mark.cli
def test_a_node_that_never_joins_is_an_error_within_the_timeout(tmp_path: Path) -> None:
    port = free_port()
    node = start_node(0, port, tmp_path, "--join-timeout", "4")
    status, output = finish(node, timeout=60)  # a hang (no timeout at all) fails here
    assert status == 1
    assert f"mnistcnn train: error: not every node joined within 4 s at 127.0.0.1:{port}" in output
    assert "with its own --node-rank (0 to 1)" in output
    # Nothing is left running: the launcher and its processes were stopped with it.
    leftover = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


@pytest.mark.slow
def test_a_node_that_dies_mid_training_stops_the_others_with_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    checkpoints = tmp_path / "checkpoints"
    options = ("--epochs", "20", "--checkpoint-dir", str(checkpoints))
    nodes = [start_node(r, port, tmp_path / f"n{r}", *options) for r in (0, 1)]
    deadline = time.monotonic() + 120
    while not (checkpoints / "latest").exists() and time.monotonic() < deadline:  # an epoch done
        time.sleep(0.1)
    assert nodes[0].poll() is None
    os.killpg(nodes[1].pid, signal.SIGKILL)
    nodes[1].communicate()
    status, output = finish(nodes[0], timeout=90)  # gloo gives up after 30 s; a hang fails here
    assert status == 1
    assert (
        "mnistcnn train: error: training stopped: contact was lost with a process on another node"
        in output
    )
    assert "C++ Traceback" not in output and "Traceback" not in output
