"""Recognising the digits of very many files on a Dask cluster: :func:`predict_files_on_cluster`.

Dask (``distributed``) does the work: scheduling, moving tasks to workers, retrying the tasks of
a worker that died, the dashboard. This module is only the adapter. The files are cut into
partitions in input order, one Dask task each; a worker process loads the model once, on its
first task, and keeps it for every later task and call with the same model. Only a few
partitions are in flight at a time and their results are handed on in input order, so memory
stays the same for a thousand files or a billion.

Rows are those of :meth:`DigitClassifier.predict_files`, and a file that cannot be read gives
a row with ``error`` set, as there: one damaged scan does not stop a job over millions. A task
returns its rows as arrays (pickling thousands of small objects costs more than predicting
them); the calling process builds the rows as they are asked for, and never imports Paddle.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._choices import Preprocess
from .._errors import MissingDependencyError
from .._inference._streaming import FilePrediction
from .._input._inputs import check_options
from .._input._preprocess import IMAGE_SIZE
from .._quiet import quiet_paddle_import

if TYPE_CHECKING:
    from distributed import Client, Future

    from .._choices import BackendName
    from .._inference._classifier import DigitClassifier

__all__ = ["CLUSTER_EXTRA", "predict_files_on_cluster"]

CLUSTER_EXTRA = 'pip install "mnistcnn[cluster]"'

logger = logging.getLogger(__name__)


def predict_files_on_cluster(
    files: Iterable[str | os.PathLike[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    backend: BackendName | None = None,
    client: Client | None = None,
    partition_size: int = 1024,
    batch_size: int = 64,
    preprocess: Preprocess = "auto",
    num_threads: int = 1,
) -> Iterator[FilePrediction]:
    """Recognise the digit in each of very many files on a Dask cluster, in order.

    :meth:`DigitClassifier.predict_files` spread over the worker processes of a Dask cluster:
    the same rows, in the order of ``files``, a file that cannot be read reported in its row's
    ``error`` and the files after it still read. ``files`` is read lazily, ``partition_size``
    files per Dask task, with at most two tasks per worker thread in flight, so an iterator of
    any length (:func:`find_images` over a tree of scans) runs in constant memory, and rows
    arrive as their partitions finish, to be written out as they come.

    Each worker process loads the model once, on its first task, with
    :meth:`DigitClassifier.load` (which checks the files' digests), and keeps it for later
    tasks and later calls. The workers need the ``cluster`` extra and the same version of
    mnistcnn, and read the files and the model themselves: on a cluster of several machines,
    both must be at the same paths on every machine (a shared file system). Relative paths are
    made absolute here; the rows name the files as given.

    Args:
        files: paths to picture files, as a list or any iterable.
        model: a saved model, as for :meth:`DigitClassifier.load`, at a path the workers can
            read (default: the shipped model, :meth:`DigitClassifier.pretrained`).
        backend: the engine, as for :meth:`DigitClassifier.load` (default: the fastest one
            installed on each worker).
        client: the :class:`distributed.Client` of the cluster to run on. Default: Dask's
            current client, if this process has one; otherwise a local cluster of one worker
            process per CPU, started when the first row is asked for and shut down when the
            last has been given (or the iterator is closed).
        partition_size: files per Dask task. Larger partitions cost less scheduling; smaller
            ones spread a short job over more workers.
        batch_size: files per network call, within a task.
        preprocess: as for :meth:`DigitClassifier.predict_proba`.
        num_threads: CPU threads each worker's engine computes with. One, with one
            single-threaded worker process per core, uses the cores best: decoding and
            normalising pictures is Python code, which a process runs on one core at a time.

    Returns:
        An iterator of one :class:`FilePrediction` per file, in the order of ``files``; their
        ``probabilities`` equal :meth:`DigitClassifier.predict_proba`'s rows for the same files.

    Raises:
        MissingDependencyError: Dask's ``distributed`` is not installed.
        TypeError, ValueError: an option that is not allowed (``backend`` is checked by the
            workers, and its error raised here when the rows are asked for).
        ModelNotFoundError, ModelFormatError: as for :meth:`DigitClassifier.load`, raised
            on the workers and again here.

    Examples:
        >>> from mnistcnn import find_images, predict_files_on_cluster
        >>> for row in predict_files_on_cluster(find_images("scans/")):  # doctest: +SKIP
        ...     print(row.file, row.label if row.ok else row.error)
        scans/box1/0001.png 7
        scans/box1/0002.png scans/box1/0002.png: not a readable image (...).
        scans/box1/0003.png 2
    """
    _require_distributed()
    check_options(batch_size=batch_size, preprocess=preprocess)
    for name, value in (("partition_size", partition_size), ("num_threads", num_threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer of at least 1; got {value!r}.")
    spec = _ModelSpec(None if model is None else os.path.abspath(model), backend, num_threads)
    names = (os.fspath(name) for name in files)
    return _rows(names, spec, client, partition_size, _Options(batch_size, preprocess))


@dataclass(frozen=True)
class _ModelSpec:
    """Which model a worker loads, and how: the key of the workers' caches."""

    path: str | None  # None: the shipped model
    backend: BackendName | None
    num_threads: int

    def load(self) -> DigitClassifier:
        with quiet_paddle_import():
            from .._inference._classifier import DigitClassifier
        if self.path is None:
            return DigitClassifier.pretrained(backend=self.backend, num_threads=self.num_threads)
        return DigitClassifier.load(self.path, backend=self.backend, num_threads=self.num_threads)


@dataclass(frozen=True)
class _Options:
    """How a task predicts its files."""

    batch_size: int
    preprocess: Preprocess


@dataclass(frozen=True)
class _Partition:
    """A task's rows as arrays: what crosses the network, for ``n`` files."""

    probabilities: np.ndarray  # float32 (n, classes), NaN where the file failed
    model_inputs: np.ndarray  # uint8 (n, 28, 28), zeros where the file failed
    errors: list[str | None]
    classes: np.ndarray


def _rows(
    names: Iterator[str],
    spec: _ModelSpec,
    client: Client | None,
    partition_size: int,
    options: _Options,
) -> Iterator[FilePrediction]:
    partitions = iter(lambda: list(itertools.islice(names, partition_size)), [])
    first = next(partitions, None)
    if first is None:  # no files: no cluster to start
        return
    partitions = itertools.chain([first], partitions)
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(_current_or_local_client())
        in_flight = max(2, 2 * sum(client.nthreads().values()))  # type: ignore[no-untyped-call]
        pending: collections.deque[tuple[list[str], Future[_Partition]]] = collections.deque()
        try:
            for part in itertools.islice(partitions, in_flight):
                pending.append((part, _submit(client, part, spec, options)))
            while pending:
                part, future = pending.popleft()
                result = future.result()
                following = next(partitions, None)
                if following is not None:
                    pending.append((following, _submit(client, following, spec, options)))
                yield from _to_rows(part, result)
        finally:  # an error, or the caller stopped early: cancel what is still queued
            if pending and client.status == "running":
                client.cancel([future for _, future in pending])  # type: ignore[no-untyped-call]


def _submit(
    client: Client, part: list[str], spec: _ModelSpec, options: _Options
) -> Future[_Partition]:
    absolute = [os.path.abspath(name) for name in part]
    # pure=False: the result depends on the files' contents, not only on the arguments.
    return client.submit(_predict_partition, absolute, spec=spec, options=options, pure=False)


def _to_rows(names: list[str], part: _Partition) -> Iterator[FilePrediction]:
    """The rows :meth:`DigitClassifier.predict_files` gives, from a task's arrays."""
    for index, name in enumerate(names):
        error = part.errors[index]
        if error is not None:
            # The worker named the file by its absolute path; the row names it as given.
            yield FilePrediction(name, error=error.replace(os.path.abspath(name), name, 1))
            continue
        probabilities = part.probabilities[index]
        best = int(probabilities.argmax())
        yield FilePrediction(
            name,
            label=int(part.classes[best]),
            probability=float(probabilities[best]),
            probabilities=probabilities,
            model_input=part.model_inputs[index],
        )


@contextlib.contextmanager
def _current_or_local_client() -> Iterator[Client]:
    """Dask's current client; if there is none, a local cluster of one single-threaded worker
    process per CPU (Dask counts the CPUs this process may use), for as long as it is needed."""
    from distributed import Client, LocalCluster, default_client

    try:
        current: Client | None = default_client()  # type: ignore[no-untyped-call]
    except ValueError:  # no client in this process
        current = None
    if current is not None:
        yield current
        return
    # distributed's constructors are not annotated
    cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=":0")  # type: ignore[no-untyped-call]
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


# In each worker process: the models loaded, by spec (the latest few), and how many times each
# was loaded (read back by the tests through Client.run, to show one load per worker).
_CACHE_SIZE = 4
_classifiers: collections.OrderedDict[_ModelSpec, DigitClassifier] = collections.OrderedDict()
_loads: collections.Counter[_ModelSpec] = collections.Counter()
_lock = threading.Lock()


def _classifier_for(spec: _ModelSpec) -> DigitClassifier:
    """This process's classifier for ``spec``, loaded on first use; a worker with several
    threads loads it once."""
    with _lock:
        classifier = _classifiers.get(spec)
        if classifier is None:
            classifier = spec.load()
            _loads[spec] += 1
            logger.info("loaded %r in process %d", classifier, os.getpid())
            _classifiers[spec] = classifier
            while len(_classifiers) > _CACHE_SIZE:
                _classifiers.popitem(last=False)
        else:
            _classifiers.move_to_end(spec)
        return classifier


def _load_counts() -> dict[_ModelSpec, int]:
    """How many times this process loaded each model."""
    return dict(_loads)


def _predict_partition(paths: list[str], *, spec: _ModelSpec, options: _Options) -> _Partition:
    """One task, run by a worker, with its process's classifier."""
    classifier = _classifier_for(spec)
    return _predict_files_as_arrays(classifier, paths, options.batch_size, options.preprocess)


def _predict_files_as_arrays(
    classifier: DigitClassifier, paths: list[str], batch_size: int, preprocess: Preprocess
) -> _Partition:
    """The rows of :meth:`DigitClassifier.predict_files` for a list of files, packed into
    arrays (a bad file noted in ``errors``, not raised)."""
    classes = np.asarray(classifier.classes_)
    probabilities = np.full((len(paths), len(classes)), np.nan, np.float32)
    model_inputs = np.zeros((len(paths), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    errors: list[str | None] = []
    rows = classifier.predict_files(paths, batch_size=batch_size, preprocess=preprocess)
    for index, row in enumerate(rows):
        errors.append(row.error)
        if row.probabilities is not None and row.model_input is not None:  # the file was read
            probabilities[index] = row.probabilities
            model_inputs[index] = row.model_input
    return _Partition(probabilities, model_inputs, errors, classes)


def _require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "predict_files_on_cluster runs on Dask's distributed, an optional extra, not "
            f"installed: {CLUSTER_EXTRA}."
        ) from exc
