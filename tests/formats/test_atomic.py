"""Saves survive a crash as a unit: killed at any moment, a save leaves the old model or the new.

A writer process is killed with SIGKILL, at each of its renames and at random moments; every
time, both loaders must then open one complete model (A or B, told apart by the accuracy in
its metadata, and predicting exactly as that model does) and the directory must hold nothing
but that model's files.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mnistcnn import DigitClassifier, build_model, save

TESTS = Path(__file__).parent.parent
WRITER = TESTS / "crash_writer.py"
FORMATS = ["dynamic", "safetensors", "static"]
MODEL_FILES = {".pdparams", ".safetensors", ".json", ".pdiparams", "_meta.json"}


@pytest.fixture(scope="module")
def references() -> dict[float, np.ndarray]:
    """Probabilities of model A (accuracy 0.1 in its metadata) and B (0.2) on a few inputs."""
    images = _probe_images()
    return {
        accuracy: DigitClassifier(build_model("fast", seed=seed)).predict_proba(images)
        for accuracy, seed in ((0.1, 1), (0.2, 2))
    }


def _probe_images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)


def _start(prefix: Path, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(WRITER), str(prefix), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TESTS.parent)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        pytest.fail(f"the writer did not start: {line}{process.communicate()[1]}")
    return process


def _killed(process: subprocess.Popen[str], *, kill: bool = False) -> int:
    """Wait for the writer (killing it first if asked), close its pipes, return its status."""
    if kill:
        process.send_signal(signal.SIGKILL)
    _, errors = process.communicate(timeout=120)
    if process.returncode != -signal.SIGKILL:
        pytest.fail(f"the writer was not killed (status {process.returncode}):\n{errors}")
    return process.returncode


def _check_one_complete_model(prefix: Path, references: dict[float, np.ndarray]) -> float:
    """Open the model with both loaders; return which one it is (its metadata's accuracy)."""
    images = _probe_images()
    found = []
    for backend in ("static", "dynamic"):
        classifier = DigitClassifier.load(prefix, backend=backend)  # type: ignore[arg-type]
        accuracy = classifier.metadata.accuracy
        assert accuracy in references, f"metadata of neither model: {classifier.metadata}"
        np.testing.assert_allclose(
            classifier.predict_proba(images), references[accuracy], atol=1e-5
        )
        found.append(accuracy)
    assert found[0] == found[1]
    left = sorted(p.name for p in prefix.parent.iterdir())
    assert left == sorted(prefix.name + suffix for suffix in MODEL_FILES), left
    return found[0]


def _save_a(prefix: Path) -> None:
    save(build_model("fast", seed=1), prefix, format=FORMATS, accuracy=0.1)


def test_a_save_killed_after_its_commit_is_finished_by_the_next_load(
    tmp_path: Path, references: dict[float, np.ndarray]
) -> None:
    prefix = tmp_path / "m"
    _save_a(prefix)
    # os.replace calls of a save: 1 commits the staging directory, 2-6 move the five files.
    writer = _start(prefix, "replace", "3")
    _killed(writer)
    assert (tmp_path / ".m.commit").is_dir()  # killed half-way through moving files in
    assert _check_one_complete_model(prefix, references) == 0.2  # rolled forward
    assert not (tmp_path / ".m.commit").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, 2, 4, 5, 6])
def test_a_save_killed_at_each_rename_leaves_one_model(
    tmp_path: Path, references: dict[float, np.ndarray], kill_at: int
) -> None:
    prefix = tmp_path / "m"
    _save_a(prefix)
    writer = _start(prefix, "replace", str(kill_at))
    _killed(writer)
    expected = 0.1 if kill_at == 1 else 0.2  # the commit is the first rename
    assert _check_one_complete_model(prefix, references) == expected


@pytest.mark.slow
def test_saves_killed_at_random_moments_leave_one_complete_model(
    tmp_path: Path, references: dict[float, np.ndarray]
) -> None:
    prefix = tmp_path / "m"
    _save_a(prefix)
    rng = random.Random(1234)
    seen = []
    for _ in range(12):
        writer = _start(prefix, "loop")
        time.sleep(rng.uniform(0.0, 1.5))  # a save of three formats takes ~0.3-0.6 s here
        _killed(writer, kill=True)
        seen.append(_check_one_complete_model(prefix, references))
    assert set(seen) <= {0.1, 0.2}


def test_a_new_save_replaces_every_file_of_the_old_model(tmp_path: Path) -> None:
    prefix = tmp_path / "m"
    save(build_model("fast", seed=1), prefix, format="both")
    written = save(build_model("fast", seed=2), prefix, format="safetensors", replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "m_meta.json"]
    assert [p.name for p in written] == ["m.safetensors", "m_meta.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o666 & ~umask)}
    assert DigitClassifier.load(prefix).backend == "dynamic"


def test_stale_staging_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    prefix = tmp_path / "m"
    save(build_model("fast", seed=1), prefix, format="safetensors")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".m.saving-{int(dead.stdout)}-abcd1234"
    stale.mkdir()
    (stale / "m.safetensors").write_bytes(b"half written")
    DigitClassifier.load(prefix)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "m_meta.json"]


@pytest.mark.slow
def test_loads_while_another_process_saves_always_see_one_complete_model(
    tmp_path: Path, references: dict[float, np.ndarray]
) -> None:
    prefix = tmp_path / "m"
    _save_a(prefix)
    writer = _start(prefix, "loop")
    images = _probe_images()
    seen = set()
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for backend in ("dynamic", "static"):
                classifier = DigitClassifier.load(prefix, backend=backend)  # type: ignore[arg-type]
                accuracy = classifier.metadata.accuracy
                assert accuracy in references
                probabilities = classifier.predict_proba(images)
                np.testing.assert_allclose(probabilities, references[accuracy], atol=1e-5)
                seen.add(accuracy)
    finally:
        _killed(writer, kill=True)
    assert seen == {0.1, 0.2}  # the loads really did interleave with saves
