"""Training on several machines: ``mnistcnn train --nnodes N --node-rank R --master HOST:PORT``.

Each machine runs Paddle's own launcher (``python -m paddle.distributed.launch``, gloo on CPU)
with ``mnistcnn train`` as the program of each of its processes; the launchers meet at the
master address and the processes train as one data-parallel job (see :mod:`._training`).

This module only starts the launcher, shows what the local first process prints, and turns the
ways a multi-node run fails into a clear error within a bounded time:

- a node that never joins: the launcher would wait for it forever; here it is given
  ``join_timeout`` seconds;
- a process that started but whose peers never connect: the workers' own watchdog
  (``MNISTCNN_JOIN_TIMEOUT``, read in :mod:`._training`) ends it after the same time;
- a node that dies or stops answering during training: gloo gives up after its 30-second
  timeout, the launcher fails, and the cause is read back from the workers' logs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .._errors import WorkerError
from .._training._watchdog import JOIN_TIMEOUT_VARIABLE

__all__ = ["JOIN_TIMEOUT_VARIABLE", "NodeSetup", "launch"]


_NOISE = re.compile(
    r"^(LAUNCH |[IWE]\d{4} |=+$|-+$|FLAGS\(|.*Modified FLAGS detected|.*HTTP Request:|\s*$"
    r"|terminate called|  what\(\):|C\+\+ Traceback|\d+ +paddle::|Error Message Summary"
    r"|FatalError: |  \[(TimeInfo|SignalInfo): )"
)
"""Lines of Paddle's launcher and C++ logging (a crash's C++ traceback too) that say nothing to
a user of the command; they stay in the logs, and a failure is summed up in one message."""


@dataclass(frozen=True)
class NodeSetup:
    """Where this machine stands in a multi-node job.

    Attributes:
        nnodes: machines in the job.
        node_rank: this machine's place among them, 0 to ``nnodes - 1``.
        master: ``HOST:PORT`` where the launchers meet (node 0 serves it when the host is
            one of its own addresses).
        procs: training processes on this machine.
        join_timeout: seconds to wait for every node to join.
    """

    nnodes: int
    node_rank: int
    master: str
    procs: int = 1
    join_timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.nnodes < 1:
            raise ValueError(f"--nnodes must be at least 1; got {self.nnodes}.")
        if not 0 <= self.node_rank < self.nnodes:
            raise ValueError(
                f"--node-rank must be from 0 to {self.nnodes - 1} (one per node); got "
                f"{self.node_rank}."
            )
        if self.procs < 1:
            raise ValueError(f"--procs must be at least 1; got {self.procs}.")
        if not self.join_timeout > 0:
            raise ValueError(f"--join-timeout must be positive; got {self.join_timeout}.")
        host, _, port = self.master.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"--master must be HOST:PORT, the address of node 0 and a free port on it "
                f"(such as 10.0.0.1:29500); got {self.master!r}."
            )


def launch(setup: NodeSetup, train_args: list[str], *, log_dir: Path | None = None) -> None:
    """Run ``mnistcnn train TRAIN_ARGS`` on this node as part of the multi-node job.

    Raises:
        WorkerError: the nodes did not all join within the timeout, a process failed here or
            on another node, or the launcher stopped; the message says which and where the
            logs are.
    """
    logs = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="mnistcnn-"))
    logs.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "paddle.distributed.launch",
        "--nnodes", str(setup.nnodes),
        "--rank", str(setup.node_rank),
        "--master", setup.master,
        "--nproc_per_node", str(setup.procs),
        "--log_dir", str(logs),
        "--log_level", "WARNING",
        sys.executable, "-m", "mnistcnn", "train", *train_args,
    ]  # fmt: skip
    environment = {
        **os.environ,
        JOIN_TIMEOUT_VARIABLE: str(setup.join_timeout),
        "GLOG_minloglevel": os.environ.get("GLOG_minloglevel", "2"),  # noqa: SIM112 (its name)
        "PYTHONWARNINGS": ",".join(
            filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:No ccache found"])
        ),
    }
    with open(logs / "launcher.log", "wb") as launcher_log:
        launcher = subprocess.Popen(
            command,
            stdout=launcher_log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,  # so that the launcher and its processes stop together
            preexec_fn=_end_with_parent,
        )
        try:
            status = _follow(launcher, logs, setup)
        except BaseException:
            _stop(launcher)
            raise
    if status != 0:
        raise WorkerError(_failure(logs, status, setup))
    if log_dir is None:
        shutil.rmtree(logs, ignore_errors=True)


def _end_with_parent() -> None:
    """In the launcher's process, before it starts: ask Linux to send it SIGTERM (on which it
    stops its processes) if this command dies, even by SIGKILL, instead of leaving it running."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _follow(launcher: subprocess.Popen[bytes], logs: Path, setup: NodeSetup) -> int:
    """Show the first local process's output as it comes; give up if the nodes have not all
    joined in time. Returns the launcher's exit status."""
    first = logs / "workerlog.0"
    deadline = time.monotonic() + setup.join_timeout
    shown = 0
    while True:
        status = launcher.poll()
        if first.exists():
            shown = _show_new_lines(first, shown)
        elif status is None and time.monotonic() > deadline:
            _stop(launcher)
            raise WorkerError(
                f"not every node joined within {setup.join_timeout:g} s at {setup.master} "
                f"(this is node {setup.node_rank} of {setup.nnodes}). Start the same command on "
                f"each node with its own --node-rank (0 to {setup.nnodes - 1}), and check that "
                f"every node can reach {setup.master}. Launcher log: {logs / 'launcher.log'}"
            )
        if status is not None:
            if first.exists():
                _show_new_lines(first, shown)
            return status
        time.sleep(0.2)


def _show_new_lines(path: Path, shown: int) -> int:
    """Print the complete lines of ``path`` after byte ``shown``; returns the new offset."""
    with open(path, "rb") as stream:
        stream.seek(shown)
        text = stream.read()
    end = text.rfind(b"\n") + 1
    for line in text[:end].decode("utf-8", "replace").splitlines():
        if not _NOISE.match(line):
            print(line, flush=True)
    return shown + end


def _stop(launcher: subprocess.Popen[bytes]) -> None:
    """End the launcher and every process it started (its own session)."""
    if launcher.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(launcher.pid, sig)
        except ProcessLookupError:
            break
        try:
            launcher.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _failure(logs: Path, status: int, setup: NodeSetup) -> str:
    """Why the launcher failed, from what the processes wrote."""
    texts = {
        path.name: path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(logs.glob("workerlog.*"))
    }
    where = f"Logs: {logs}"
    for name, text in texts.items():
        prefix = "mnistcnn train: error: "
        errors = [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]
        if errors:
            return f"{errors[-1]} ({name} on this node). {where}"
    lost = (
        "gloo::TimeoutException",
        "gloo::IoException",
        "Connection closed by peer",
        "Connection reset by peer",
    )
    if any(marker in text for text in texts.values() for marker in lost):
        return (
            "training stopped: contact was lost with a process on another node (it ended, or "
            "stopped answering for 30 s). Run the same commands again on every node; with "
            f"--checkpoint-dir, training resumes from the last epoch completed. {where}"
        )
    if not texts:
        return f"Paddle's launcher exited with status {status} before starting training. {where}"
    last = [line for text in texts.values() for line in text.splitlines() if line.strip()]
    cause = last[-1] if last else f"exit status {status}"
    return f"a training process on node {setup.node_rank} failed: {cause}. {where}"
