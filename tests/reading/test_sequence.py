"""The sequence reader's pieces: line normalisation, CTC decoding, composed training lines,
the network, and training it with the library's machinery."""

from __future__ import annotations

import itertools
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import paddle
import pytest

from mnistcnn import build_model, load_data, save, train
from mnistcnn._data._composing import compose_batch, split_into_lines
from mnistcnn._formats._loading import open_model
from mnistcnn._formats._metadata import ModelMetadata
from mnistcnn._input._lines import INK_HEIGHT, LINE_HEIGHT, STRIDE, line_input
from mnistcnn._reading._ctc import decode


def _scores(classes: list[int], peak: float = 0.9) -> np.ndarray:
    """Scores whose softmax gives ``peak`` to the class of each frame."""
    logits = np.zeros((len(classes), 11), np.float32)
    for frame, cls in enumerate(classes):
        logits[frame, cls] = np.log(peak * 10 / (1 - peak))
    return logits


def test_decode_merges_repeats_and_drops_blanks() -> None:
    # blank, 3, 3, blank, 3, 8, 8, blank -> "2 2 7" (class d + 1 is digit d)
    digits = decode(_scores([0, 3, 3, 0, 3, 8, 8, 0]))
    assert [d.label for d in digits] == [2, 2, 7]
    assert all(abs(d.probability - 0.9) < 1e-5 for d in digits)
    # The spans tile the line, in order.
    assert digits[0].start == 0 and digits[-1].stop == 8 * STRIDE
    assert all(a.stop == b.start for a, b in itertools.pairwise(digits))
    assert decode(_scores([0, 0, 0])) == []


def test_line_input_scales_the_ink_to_the_line_height() -> None:
    ink = np.zeros((90, 300), np.float32)
    ink[20:70, 40:260] = 1.0  # 50 rows of ink
    line, scale, origin, top = line_input(ink)
    assert line.shape[0] == LINE_HEIGHT and line.shape[1] % STRIDE == 0
    rows = np.flatnonzero(line.max(axis=1) > 0.5)
    assert len(rows) == INK_HEIGHT
    assert abs(scale - INK_HEIGHT / 50) < 0.01 and top == 20
    cols = np.flatnonzero(line.max(axis=0) > 0.5)
    assert (
        abs(origin + cols[0] / scale - 40) <= 1 and abs(origin + (cols[-1] + 1) / scale - 260) <= 1
    )
    with pytest.raises(ValueError, match="no ink"):
        line_input(np.zeros((10, 10), np.float32))


def test_composed_lines_use_every_digit_once() -> None:
    train_set = load_data("train")
    images, labels = train_set.images[:200], train_set.labels[:200]
    batch = compose_batch(images, labels, np.random.default_rng(3))
    assert batch.images.dtype == np.float32 and batch.images.shape[1:3] == (1, LINE_HEIGHT)
    assert int(batch.target_lengths.sum()) == 200
    flat = np.concatenate([t[:n] for t, n in zip(batch.targets, batch.target_lengths, strict=True)])
    assert np.array_equal(flat - 1, labels)
    assert np.all(batch.input_lengths * STRIDE <= batch.images.shape[3])
    assert np.all(batch.input_lengths >= 2 * batch.target_lengths)  # room for CTC's blanks
    again = compose_batch(images, labels, np.random.default_rng(3))
    assert np.array_equal(again.images, batch.images)
    sizes = split_into_lines(1000, np.random.default_rng(0))
    assert sum(sizes) == 1000 and max(sizes) <= 8 and min(sizes) >= 1


def test_reader_network_shape_and_saved_forms(tmp_path: Path) -> None:
    network = build_model("reader", seed=0)
    network.eval()
    x = paddle.rand([2, 1, LINE_HEIGHT, 160])
    assert list(network(x).shape) == [2, 40, 11]
    paths = save(network, tmp_path / "reader", format=["safetensors", "static"])
    meta = ModelMetadata.read(tmp_path / "reader_meta.json")
    assert meta.architecture == "reader"
    assert (
        '"shape": [\n      null,\n      1,\n      32,\n      null'
        in (tmp_path / "reader_meta.json").read_text()
    )
    assert {p.suffix for p in paths} >= {".safetensors", ".json", ".pdiparams"}
    loaded = open_model(tmp_path / "reader", backend="dynamic", architecture=None, num_threads=1)
    expected = network(x).numpy()
    assert np.allclose(loaded.backend.run(x.numpy()), expected, atol=1e-5)
    static = open_model(tmp_path / "reader", backend="static", architecture=None, num_threads=1)
    wider = paddle.rand([1, 1, LINE_HEIGHT, 96])  # any width: the static model too
    assert np.allclose(static.backend.run(wider.numpy()), network(wider).numpy(), atol=1e-4)


@pytest.mark.skipif(find_spec("onnxruntime") is None, reason="the onnx extra")
def test_the_shipped_reader_runs_on_onnx_runtime_as_on_paddle() -> None:
    shipped = (
        Path(__import__("mnistcnn").__file__).parent / "_models" / "weights" / "mnistcnn_reader"
    )
    paddle_reader = open_model(shipped, backend="dynamic", architecture=None, num_threads=None)
    onnx_reader = open_model(shipped, backend=None, architecture=None, num_threads=None)
    assert onnx_reader.backend.name == "onnxruntime"  # the fastest engine installed
    assert onnx_reader.metadata.files.keys() == {".onnx", ".safetensors"}  # one model, two files
    rng = np.random.default_rng(0)
    for width in (24, 96, 233, 700):  # any width, as the dynamic graph
        lines = rng.random((2, 1, LINE_HEIGHT, width), dtype=np.float32)
        expected = paddle_reader.backend.run(lines)
        assert expected.shape == (2, width // STRIDE, 11)
        np.testing.assert_allclose(onnx_reader.backend.run(lines), expected, atol=1e-4)


@pytest.mark.slow  # a held-out set: on one Python (py311), as the other whole-set checks
def test_the_shipped_reader_reads_composed_training_style_lines() -> None:
    from mnistcnn._training._loop import evaluate_lines

    test_set = load_data("test")
    reader = open_model(
        Path(__import__("mnistcnn").__file__).parent / "_models" / "weights" / "mnistcnn_reader",
        backend="dynamic",
        architecture=None,
        num_threads=None,
    )
    layer = reader.backend.layer  # type: ignore[attr-defined]
    exact, loss = evaluate_lines(layer, test_set.images[:1500], test_set.labels[:1500])
    assert exact >= 0.78, exact  # measured 0.84
    assert loss < 0.5


@pytest.mark.slow
def test_training_the_reader_learns_and_resumes(tmp_path: Path) -> None:
    train_set = load_data("train")
    data = (train_set.images[:3000], train_set.labels[:3000])
    val = (train_set.images[-600:], train_set.labels[-600:])
    run = {"val": val, "recipe": "reader", "epochs": 2, "seed": 1, "progress": False}
    network = build_model("reader", seed=1)
    history = train(network, data, checkpoint_dir=tmp_path / "ckpt", **run)
    first, second = history.epochs
    assert second.loss < 0.75 * first.loss  # CTC loss falls from the start (5.3 -> 3.0)
    assert second.val_loss is not None and np.isfinite(second.val_loss)  # numbers of val
    # A finished run in the same directory is not repeated: same weights, same history.
    again = build_model("reader", seed=2)
    repeated = train(again, data, checkpoint_dir=tmp_path / "ckpt", **run)
    assert repeated.epochs == history.epochs
    for name, value in network.state_dict().items():
        assert np.array_equal(value.numpy(), again.state_dict()[name].numpy()), name


@pytest.mark.slow
@pytest.mark.xdist_group("gloo")  # trains in 2 gloo processes
def test_the_reader_trains_data_parallel() -> None:
    train_set = load_data("train")
    network = build_model("reader", seed=4)
    before = {name: value.numpy().copy() for name, value in network.state_dict().items()}
    history = train(
        network,
        (train_set.images[:1280], train_set.labels[:1280]),
        recipe="reader",
        epochs=1,
        seed=4,
        procs=2,
        progress=False,
    )
    assert history.world_size == 2 and np.isfinite(history.epochs[0].loss)
    changed = [
        name
        for name, value in network.state_dict().items()
        if not np.array_equal(value.numpy(), before[name])
    ]
    assert "head.weight" in changed  # the workers' weights came back into the network


@pytest.mark.skipif(
    sys.version_info[:2] > (3, 12) or find_spec("paddle2onnx") is None,
    reason="paddle2onnx: Python 3.10-3.12",
)
def test_the_reader_is_exported_to_onnx_beside_its_weights(tmp_path: Path) -> None:
    """How the shipped ONNX reader is made: train (here: the shipped weights, saved as
    training saves them), then `mnistcnn export PREFIX --format onnx -o PREFIX`."""
    from mnistcnn._cli._main import main
    from mnistcnn._models._weights import READER, WEIGHTS_DIR

    shipped = open_model(WEIGHTS_DIR / READER, backend="dynamic", architecture=None, num_threads=1)
    layer = shipped.backend.layer  # type: ignore[attr-defined]
    save(layer, tmp_path / "reader", format="safetensors", history=shipped.metadata.history)
    prefix = str(tmp_path / "reader")
    assert main(["export", prefix, "--format", "onnx", "-o", prefix]) == 0
    exported = open_model(tmp_path / "reader", backend=None, architecture=None, num_threads=1)
    assert exported.backend.name == "onnxruntime"
    assert exported.metadata.history == shipped.metadata.history  # the record carries over
    lines = np.random.default_rng(1).random((3, 1, LINE_HEIGHT, 180), dtype=np.float32)
    expected = shipped.backend.run(lines)
    np.testing.assert_allclose(exported.backend.run(lines), expected, atol=1e-4)


def test_straighten_brings_a_climbing_line_to_one_row() -> None:
    from mnistcnn._input._lines import straighten

    digit = np.zeros((20, 12), np.float32)
    digit[2:18, 4:8] = 1.0  # a "1", 16 rows high
    ink = np.zeros((120, 200), np.float32)
    tops = [10, 30, 50, 70, 90]  # each digit 20 rows lower than the one before
    for index, top in enumerate(tops):
        ink[top : top + 20, 10 + 36 * index : 22 + 36 * index] = digit
    straight = straighten(ink)
    rows = [np.flatnonzero(straight[:, 10 + 36 * i + 5]) for i in range(len(tops))]
    assert max(r[0] for r in rows) - min(r[0] for r in rows) <= 2  # one row, nearly
    assert all(len(r) == 16 for r in rows)  # each digit keeps its shape
    flat = np.zeros((40, 200), np.float32)
    flat[10:26, 20:180:30] = 1.0
    assert np.array_equal(straighten(flat), flat)  # a line on one baseline: as it was
