"""predict_files_on_cluster on a real local Dask cluster of 2 worker processes: the rows of one
process, in input order, one model load per worker, a bad file reported in its own row."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster
from PIL import Image

from mnistcnn import (
    DigitClassifier,
    FilePrediction,
    MnistDataset,
    ModelNotFoundError,
    predict_files_on_cluster,
)
from mnistcnn._models._weights import PRETRAINED, WEIGHTS_DIR
from mnistcnn._scale._cluster import _load_counts, _ModelSpec

from ..conftest import run_python

# One cluster for the module, so its tests share one xdist worker (and the 2 cores).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """2 single-threaded worker processes; not Dask's default client, so that the tests choose
    when a call finds one."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, test_set: MnistDataset) -> list[str]:
    """300 MNIST test digits as files: PNG in MNIST's form, and every third one dark ink on
    white (normalised by "auto", so the float path is compared too), every tenth a JPEG."""
    folder = tmp_path_factory.mktemp("scans")
    names = []
    for index in range(300):
        image = test_set.images[index]
        if index % 3 == 0:
            image = 255 - image
        path = folder / f"{index:03d}.{'jpg' if index % 10 == 0 else 'png'}"
        Image.fromarray(image).save(path)
        names.append(str(path))
    return names


@pytest.fixture(scope="module")
def reference() -> DigitClassifier:
    """The workers' model in this process, on one thread as theirs."""
    return DigitClassifier.pretrained(num_threads=1)


def load_counts(client: Client) -> dict[int, dict[_ModelSpec, int]]:
    """Per worker process id: how many times it loaded each model."""
    counts = client.run(lambda: (os.getpid(), _load_counts()))
    return dict(counts.values())


PRETRAINED_SPEC = _ModelSpec(None, None, 1)
WEIGHTS = WEIGHTS_DIR / PRETRAINED["best"]


def test_rows_are_those_of_one_process_in_input_order(
    client: Client, files: list[str], reference: DigitClassifier, test_set: MnistDataset
) -> None:
    # 43 partitions of 7 files for 2 workers: they finish out of order, and are put back.
    rows = list(predict_files_on_cluster(files, client=client, partition_size=7))
    assert [row.file for row in rows] == files
    assert all(row.ok for row in rows)
    probabilities = np.stack([row.probabilities for row in rows])  # type: ignore[misc]
    expected = reference.predict_proba(files)
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
    labels = np.array([row.label for row in rows])
    np.testing.assert_array_equal(labels, reference.predict(files))
    assert np.mean(labels == test_set.labels[:300]) >= 0.98
    # And row for row what DigitClassifier.predict_files gives, the pictures seen included.
    single = list(reference.predict_files(files))
    for got, want in zip(rows, single, strict=True):
        assert (got.file, got.label, got.probability) == pytest.approx(
            (want.file, want.label, want.probability), abs=1e-6
        )
        np.testing.assert_array_equal(got.model_input, want.model_input)  # type: ignore[arg-type]


def test_each_worker_loads_the_model_once_and_keeps_it(client: Client, files: list[str]) -> None:
    for _ in range(2):  # a second call finds the model loaded
        rows = list(predict_files_on_cluster(files[:60], client=client, partition_size=3))
        assert len(rows) == 60
    counts = load_counts(client)
    assert len(counts) == 2 and os.getpid() not in counts  # two processes, not this one
    assert [count[PRETRAINED_SPEC] for count in counts.values()] == [1, 1]
    # Another model (the same files, by their path) is loaded once more, beside the first.
    rows = list(
        predict_files_on_cluster(files[:60], model=WEIGHTS, client=client, partition_size=3)
    )
    assert len(rows) == 60
    after = load_counts(client)
    assert [count[PRETRAINED_SPEC] for count in after.values()] == [1, 1]
    assert [count[_ModelSpec(str(WEIGHTS), None, 1)] for count in after.values()] == [1, 1]


def test_a_bad_file_gets_an_error_row_and_the_others_are_read(
    client: Client,
    files: list[str],
    reference: DigitClassifier,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "damaged.png").write_bytes(Path(files[1]).read_bytes()[:60])  # cut short
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "blank.png").write_bytes(_png(np.zeros((40, 40), np.uint8)))
    monkeypatch.chdir(tmp_path)  # relative names: the rows name the files as given
    bad = ["damaged.png", "missing.png", "notes.txt", "blank.png"]
    names = [*files[:10], bad[0], *files[10:20], *bad[1:], *files[20:30]]
    rows = list(predict_files_on_cluster(names, client=client, partition_size=4))
    assert [row.file for row in rows] == names
    failed = [row for row in rows if not row.ok]
    assert [row.file for row in failed] == bad
    assert all(row.label is None and row.probabilities is None for row in failed)
    # The messages of one process, word for word.
    single = {row.file: row for row in reference.predict_files(names)}
    assert [row.error for row in failed] == [single[name].error for name in bad]
    assert failed[1].error.startswith("missing.png: ")  # type: ignore[union-attr]
    good = [row for row in rows if row.ok]
    np.testing.assert_allclose(
        np.stack([row.probabilities for row in good]),  # type: ignore[misc]
        reference.predict_proba([row.file for row in good]),
        rtol=0,
        atol=1e-6,
    )


def test_a_model_that_is_not_there_raises_here_and_the_tasks_in_flight_stop(
    client: Client, tmp_path: Path
) -> None:
    before = _futures(client)
    names = [f"{index}.png" for index in range(8)]
    rows = predict_files_on_cluster(names, model=tmp_path / "nope", client=client, partition_size=1)
    with pytest.raises(ModelNotFoundError, match="nope") as raised:
        next(rows)
    assert str(tmp_path / "nope") in str(raised.value)  # the client's error, naming the path
    # Of the 4 tasks it had in flight, the one that failed is still held (by the traceback,
    # through the generator's frame); the 3 others were cancelled, not left to run.
    assert len(_futures(client) - before) == 1


def test_stopping_early_leaves_no_task_behind(client: Client, files: list[str]) -> None:
    before = _futures(client)
    rows = predict_files_on_cluster(files, client=client, partition_size=5)
    assert isinstance(next(rows), FilePrediction)
    assert len(_futures(client) - before) == 5  # the one being read, and 4 in flight
    rows.close()  # type: ignore[attr-defined]
    del rows
    assert _futures(client) - before == set()


def test_without_a_client_it_uses_the_current_one(
    client: Client, files: list[str], reference: DigitClassifier
) -> None:
    with Client(client.scheduler.address):  # Dask's default client while the block runs
        rows = list(predict_files_on_cluster(files[:12], num_threads=2, partition_size=3))
    assert [row.label for row in rows] == reference.predict(files[:12]).tolist()
    # It ran on the module's workers: they hold that model (2 threads: another entry) now.
    loaded = [count[_ModelSpec(None, None, 2)] for count in load_counts(client).values()]
    assert sum(loaded) >= 1 and max(loaded) == 1


def test_without_any_client_it_starts_a_local_cluster_and_never_imports_paddle(
    files: list[str], reference: DigitClassifier
) -> None:
    code = (
        "import sys\n"
        "from distributed import default_client\n"
        "from mnistcnn import predict_files_on_cluster\n"
        "rows = list(predict_files_on_cluster(sys.argv[1:], partition_size=2))\n"
        "print(*[row.label for row in rows])\n"
        "print('paddle' in sys.modules, 'mnistcnn._inference._classifier' in sys.modules)\n"
        "try:\n"
        "    default_client()\n"
        "except ValueError:\n"
        "    print('shut down')\n"
    )
    lines = run_python("-c", code, *files[:8]).stdout.splitlines()
    assert lines[0].split() == [str(label) for label in reference.predict(files[:8])]
    assert lines[1] == "False False"  # only the workers load the model
    assert lines[2] == "shut down"


def test_no_files_need_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cluster() -> None:
        raise AssertionError("a cluster was asked for")

    monkeypatch.setattr("mnistcnn._scale._cluster._current_or_local_client", no_cluster)
    assert list(predict_files_on_cluster([])) == []
    assert list(predict_files_on_cluster(iter(()))) == []


def test_options_are_checked_at_the_call() -> None:
    with pytest.raises(ValueError, match="partition_size must be an integer of at least 1"):
        predict_files_on_cluster([], partition_size=0)
    with pytest.raises(ValueError, match=r"num_threads must be an integer of at least 1; got 1\.5"):
        predict_files_on_cluster([], num_threads=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="preprocess"):
        predict_files_on_cluster([], preprocess="fast")  # type: ignore[arg-type]


def test_without_the_extra_the_error_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "import mnistcnn\n"
        "try:\n"
        "    mnistcnn.predict_files_on_cluster(['a.png'])\n"
        "except mnistcnn.MissingDependencyError as exc:\n"
        "    print(isinstance(exc, ImportError), exc)\n"
    )
    result = run_python("-c", code)
    assert result.stdout.strip() == (
        "True predict_files_on_cluster runs on Dask's distributed, an optional extra, not "
        'installed: pip install "mnistcnn[cluster]".'
    )


def _futures(client: Client) -> set[str]:
    """The keys of the tasks the client holds futures of (after collecting unreachable ones)."""
    gc.collect()
    return set(client.futures)


def _png(pixels: np.ndarray) -> bytes:
    from ..pictures import png_bytes

    return png_bytes(pixels)
