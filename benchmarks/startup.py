"""How long ``mnistcnn predict one.png`` takes from process start, against ``import paddle``.

Predicting with the ONNX Runtime engine (the ``onnx`` extra) never imports Paddle, so a one-off
command answers in a fraction of Paddle's own import time. Both are run as fresh processes,
alternately, several rounds; the report gives the medians, their ratio, and the peak resident
memory of each (from the kernel's accounting of each child, ``wait4``).

    python benchmarks/startup.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw


def timed(command: list[str]) -> tuple[float, float]:
    """Seconds from start to exit, and peak resident MiB, of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        errors = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"{command} failed: {errors}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    picture = folder / "one.png"
    page = Image.new("L", (60, 80), 255)
    ImageDraw.Draw(page).line([(30, 10), (30, 70)], fill=0, width=6)
    page.save(picture)
    commands = {
        "mnistcnn predict one.png": [sys.executable, "-m", "mnistcnn", "predict", str(picture)],
        "python -c 'import paddle'": [sys.executable, "-c", "import paddle"],
        "python -c 'pass'": [sys.executable, "-c", "pass"],
    }
    for command in commands.values():  # warm the file cache
        timed(command)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, command in commands.items():
            runs[name].append(timed(command))
    print(f"{'command':28} {'median s':>9} {'peak MiB':>9}")
    medians = {}
    for name, results in runs.items():
        medians[name] = statistics.median(seconds for seconds, _ in results)
        peak = max(mib for _, mib in results)
        print(f"{name:28} {medians[name]:9.3f} {peak:9.0f}")
    ratio = medians["mnistcnn predict one.png"] / medians["python -c 'import paddle'"]
    print(f"predict / import paddle: {ratio:.2f} ({args.rounds} rounds, medians)")


if __name__ == "__main__":
    main()
