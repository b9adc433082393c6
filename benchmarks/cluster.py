"""Batch prediction over image files: one process against Dask and Ray local clusters of 2 worker
processes, measured in one run.

    pip install "mnistcnn[cluster]" "ray[data]"
    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/cluster.py [--count 10000] [--repeat 5]

The first ``--count`` MNIST test digits are written as PNG files to a temporary directory; each
candidate then predicts every file (the shipped model, ONNX Runtime if installed; ``--repeat``
times over in each call, for a longer job), each in a fresh child process so that start-up,
imports and memory are its own:

- **one process**, the reference: ``DigitClassifier.pretrained(num_threads=1).predict_proba``
  over the paths, ``--partition`` files per call; also with the engine on every core (its
  default) and :meth:`DigitClassifier.predict_files` (decoding in 2 threads);
- **Dask**: ``mnistcnn.predict_files_on_cluster`` on a ``distributed.LocalCluster`` of 2 worker
  processes with 1 thread each, ``--partition`` files per task;
- **Ray**: Ray Data, ``ray.data.from_items(paths).map_batches(Predictor, compute=
  ActorPoolStrategy(size=2))`` with ``preserve_order``, a callable class holding one
  ``DigitClassifier`` per actor (``num_cpus=1`` each, on ``ray.init(num_cpus=2)``), batches of
  ``--partition`` files. Each actor runs the same per-partition code as a Dask task.

Every engine runs its network on one thread per worker process (``num_threads=1``; Dask's
nanny and Ray both set ``OMP_NUM_THREADS=1`` in their workers), so 2 workers use the 2 cores.
The first call on a cluster (``cold``) includes loading the model in each worker; the figure
compared is the median of ``--rounds`` calls after it (Ray Data starts new actors, and loads
the model again, in every call). Throughput is a ratio to the reference measured in the same run.
Peak memory is the largest sum of resident memory over the child process and all its
descendants (scheduler, workers, Ray's services), sampled every 0.1 s; shared pages count once
per process, so it is an upper bound. The results of every engine are compared with the
reference's: the same labels and probabilities, row for row, in the order of the files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

PHASES = ("one-1", "one-all", "one-files", "dask", "ray")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="files to predict")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per candidate")
    parser.add_argument("--partition", type=int, default=1000, help="files per task")
    parser.add_argument(
        "--repeat", type=int, default=1, help="predict the files this many times over per call"
    )
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        result = PHASE[args.phase](_paths(Path(args.dir)) * args.repeat, args)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="mnistcnn-cluster-") as folder:
        write_files(Path(folder), args.count)
        measured = {phase: run_phase(phase, folder, args) for phase in PHASES}
    report(measured, args)


def write_files(folder: Path, count: int) -> None:
    from PIL import Image

    import mnistcnn

    images = mnistcnn.load_data("test").images[:count]
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{index:06d}.png")


def _paths(folder: Path) -> list[str]:
    return sorted(str(path) for path in folder.glob("*.png"))


def run_phase(phase: str, folder: str, args: argparse.Namespace) -> dict[str, object]:
    out = Path(folder).with_name(f"{Path(folder).name}-{phase}.npy")
    command = [sys.executable, __file__, "--phase", phase, "--dir", folder, "--out", str(out)]
    command += ["--rounds", str(args.rounds), "--partition", str(args.partition)]
    command += ["--repeat", str(args.repeat)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"{phase} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    result["probabilities"] = np.load(out)
    out.unlink()
    return result


# -- the candidates, each run in a child process -------------------------------------------------


class PeakMemory:
    """The largest sum of resident memory of this process and its descendants, sampled."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.1):
            total = 0
            for process in [self._process, *self._process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # ended meanwhile
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed_rounds(
    call: Callable[[], np.ndarray], rounds: int
) -> tuple[float, list[float], np.ndarray]:
    """The first call's time, the times of ``rounds`` calls after it, and the last result."""
    start = time.perf_counter()
    result = call()
    cold = time.perf_counter() - start
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return cold, times, result


def one_process(num_threads: int | None, files: bool) -> Callable[..., dict[str, object]]:
    def phase(paths: list[str], args: argparse.Namespace) -> dict[str, object]:
        memory = PeakMemory()
        start = time.perf_counter()
        from mnistcnn import DigitClassifier

        classifier = DigitClassifier.pretrained(num_threads=num_threads)
        ready = time.perf_counter() - start

        def call() -> np.ndarray:
            if files:
                rows = classifier.predict_files(paths, threads=2)
                return np.stack([row.probabilities for row in rows])  # type: ignore[misc]
            parts = [
                classifier.predict_proba(paths[i : i + args.partition])
                for i in range(0, len(paths), args.partition)
            ]
            return np.concatenate(parts)

        cold, times, result = timed_rounds(call, args.rounds)
        np.save(args.out, result)
        return {
            "start": ready,
            "cold": cold,
            "times": times,
            "memory": memory.stop(),
            "engine": f"{classifier.backend}, {classifier.num_threads} thread(s)",
        }

    return phase


def dask_phase(paths: list[str], args: argparse.Namespace) -> dict[str, object]:
    memory = PeakMemory()
    start = time.perf_counter()
    from distributed import Client, LocalCluster

    from mnistcnn import predict_files_on_cluster

    imported = time.perf_counter() - start
    start = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        ready = time.perf_counter() - start

        def call() -> np.ndarray:
            rows = predict_files_on_cluster(paths, client=client, partition_size=args.partition)
            return np.stack([row.probabilities for row in rows])  # type: ignore[misc]

        cold, times, result = timed_rounds(call, args.rounds)
        loads = client.run(lambda: __import__("mnistcnn._scale._cluster")._cluster._load_counts())
    np.save(args.out, result)
    import distributed

    return {
        "import": imported,
        "start": ready,
        "cold": cold,
        "times": times,
        "memory": memory.stop(),
        "engine": f"distributed {distributed.__version__}, model loads per worker "
        f"{[sum(counts.values()) for counts in loads.values()]}",
    }


class RayPredictor:
    """A Ray Data callable class: one classifier per actor, the Dask task's code per batch."""

    def __init__(self) -> None:
        from mnistcnn import DigitClassifier

        self.classifier = DigitClassifier.pretrained(num_threads=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from mnistcnn._scale._cluster import _predict_files_as_arrays

        part = _predict_files_as_arrays(self.classifier, list(batch["path"]), 64, "auto")
        errors = np.array([error or "" for error in part.errors], dtype=object)
        return {
            "index": batch["index"],
            "probabilities": part.probabilities,
            "model_input": part.model_inputs,
            "error": errors,
        }


def ray_phase(paths: list[str], args: argparse.Namespace) -> dict[str, object]:
    memory = PeakMemory()
    start = time.perf_counter()
    import ray
    import ray.data

    from mnistcnn import FilePrediction
    from mnistcnn._scale._cluster import _Partition, _to_rows

    imported = time.perf_counter() - start
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    ready = time.perf_counter() - start

    def rows() -> Iterator[FilePrediction]:
        items = [{"index": index, "path": path} for index, path in enumerate(paths)]
        blocks = -(-len(items) // args.partition)
        dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            RayPredictor,
            compute=ray.data.ActorPoolStrategy(size=2),
            batch_size=args.partition,
            num_cpus=1,
        )
        done = 0
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            count = len(batch["index"])
            if not np.array_equal(batch["index"], np.arange(done, done + count)):
                raise AssertionError("Ray Data gave the rows out of order")
            errors = [error or None for error in batch["error"]]
            part = _Partition(batch["probabilities"], batch["model_input"], errors, np.arange(10))
            yield from _to_rows(paths[done : done + count], part)
            done += count

    def call() -> np.ndarray:
        return np.stack([row.probabilities for row in rows()])  # type: ignore[misc]

    cold, times, result = timed_rounds(call, args.rounds)
    ray.shutdown()
    np.save(args.out, result)
    return {
        "import": imported,
        "start": ready,
        "cold": cold,
        "times": times,
        "memory": memory.stop(),
        "engine": f"ray {ray.__version__}",
    }


PHASE: dict[str, Callable[[list[str], argparse.Namespace], dict[str, object]]] = {
    "one-1": one_process(1, files=False),
    "one-all": one_process(None, files=False),
    "one-files": one_process(None, files=True),
    "dask": dask_phase,
    "ray": ray_phase,
}

NAMES = {
    "one-1": "one process, predict_proba, 1 thread (reference)",
    "one-all": "one process, predict_proba, engine on all cores",
    "one-files": "one process, predict_files (2 decoding threads)",
    "dask": "Dask LocalCluster, 2 workers x 1 thread",
    "ray": "Ray Data, 2 actors x 1 CPU",
}


def report(measured: dict[str, dict[str, object]], args: argparse.Namespace) -> None:
    reference = measured["one-1"]
    base = statistics.median(reference["times"])  # type: ignore[arg-type]
    expected = reference["probabilities"]
    assert isinstance(expected, np.ndarray)
    count = args.count * args.repeat
    print(
        f"{count:,} files ({args.count:,} PNG files x {args.repeat}), {args.partition} per task, "
        f"median of {args.rounds} calls"
    )
    print(
        f"{'':52} {'import':>7} {'start':>7} {'cold':>7} {'call':>7} {'img/s':>7} "
        f"{'ratio':>6} {'peak MB':>8}  same results"
    )
    for phase, result in measured.items():
        call = statistics.median(result["times"])  # type: ignore[arg-type]
        got = result["probabilities"]
        assert isinstance(got, np.ndarray)
        labels_equal = np.array_equal(got.argmax(1), expected.argmax(1))
        difference = float(np.abs(got - expected).max())
        same = "identical" if np.array_equal(got, expected) else f"max diff {difference:.1e}"
        imported = result.get("import")
        print(
            f"{NAMES[phase]:52} "
            f"{'' if imported is None else f'{imported:.2f}':>7} "
            f"{result['start']:7.2f} {result['cold']:7.2f} {call:7.2f} "
            f"{count / call:7.0f} {base / call:6.2f} "
            f"{result['memory'] / 2**20:8.0f}  "  # type: ignore[operator]
            f"{same}{'' if labels_equal else ', LABELS DIFFER'}"
        )
        print(f"{'':52} ({result['engine']})")
    print(f"CPU: {os.cpu_count()} cores, AVX-512: {'avx512f' in Path('/proc/cpuinfo').read_text()}")


if __name__ == "__main__":
    main()
