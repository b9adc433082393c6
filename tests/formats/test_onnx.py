"""ONNX: export through paddle2onnx, and the ONNX Runtime engine behind ``DigitClassifier``."""

from __future__ import annotations

import json
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

import mnistcnn
from mnistcnn import (
    DigitClassifier,
    MissingDependencyError,
    MnistDataset,
    ModelFormatError,
    build_model,
    save,
    to_model_input,
)

from ..conftest import cli, run_python

CAN_EXPORT = sys.version_info[:2] in ((3, 10), (3, 11), (3, 12)) and bool(find_spec("paddle2onnx"))
needs_export = pytest.mark.skipif(not CAN_EXPORT, reason="paddle2onnx: Python 3.10-3.12 only")
needs_runtime = pytest.mark.skipif(not find_spec("onnxruntime"), reason="the onnx extra")


@pytest.fixture(scope="module")
def exported(
    trained: tuple[paddle.nn.Layer, object], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The trained tutorial network saved as safetensors, static and ONNX; the prefix."""
    if not CAN_EXPORT:
        pytest.skip("paddle2onnx: Python 3.10-3.12 only")
    prefix = tmp_path_factory.mktemp("onnx") / "m"
    save(trained[0], prefix, format=["safetensors", "static", "onnx"])
    return prefix


@needs_export
@needs_runtime
def test_the_onnx_file_runs_in_bare_onnx_runtime_as_the_network_does(
    trained: tuple[paddle.nn.Layer, object], exported: Path, test_set: MnistDataset
) -> None:
    import onnxruntime

    meta = json.loads(exported.with_name("m_meta.json").read_text())
    assert ".onnx" in meta["files"]
    session = onnxruntime.InferenceSession(str(exported.with_suffix(".onnx")))
    (feed,) = session.get_inputs()
    assert (feed.name, feed.shape) == ("x", ["batch", 1, 28, 28])
    assert session.get_outputs()[0].shape == ["batch", 10]
    # The input convention as the metadata states it, with nothing from mnistcnn.
    low, high = meta["input"]["value_range"]
    images = test_set.images[:1000]
    batch = (low + (high - low) * images.astype(np.float32) / 255)[:, None]
    for size in (1, 7, 1000):  # the batch axis is dynamic
        logits = session.run(None, {"x": batch[:size]})[0]
        with paddle.no_grad():
            expected = trained[0](paddle.to_tensor(batch[:size])).numpy()  # type: ignore[operator]
        np.testing.assert_allclose(logits, expected, atol=1e-4)


@needs_export
@needs_runtime
def test_loading_picks_onnx_runtime_and_agrees_with_paddle(
    exported: Path, test_set: MnistDataset
) -> None:
    images = test_set.images[:2000]  # the whole test set, every engine: test_pretrained.py
    by_engine = {
        engine: DigitClassifier.load(exported, backend=engine)  # type: ignore[arg-type]
        for engine in ("dynamic", "static", "onnxruntime")
    }
    assert DigitClassifier.load(exported).backend == "onnxruntime"  # the fastest, by default
    for path in (exported.with_suffix(".onnx"), f"{exported}.onnx"):
        loaded = DigitClassifier.load(path, backend="onnxruntime")
        assert loaded.metadata.architecture == "tutorial"
        assert repr(loaded).endswith("source='" + str(exported) + ".onnx')")
    reference = by_engine["dynamic"].predict_proba(images)
    for engine in ("static", "onnxruntime"):
        np.testing.assert_allclose(by_engine[engine].predict_proba(images), reference, atol=1e-4)
        assert np.array_equal(by_engine[engine].predict(images), reference.argmax(axis=1))


@needs_export
@needs_runtime
def test_a_bare_onnx_file_without_metadata(exported: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone.onnx"
    shutil.copyfile(exported.with_suffix(".onnx"), alone)
    classifier = DigitClassifier.load(alone)
    assert classifier.backend == "onnxruntime"
    assert classifier.metadata.architecture is None and classifier.metadata.output == "logits"
    digits = np.zeros((2, 28, 28), np.uint8)
    digits[:, 8:20, 13:15] = 255
    np.testing.assert_allclose(
        classifier.predict_proba(digits),
        DigitClassifier.load(exported, backend="dynamic").predict_proba(digits),
        atol=1e-4,
    )


@needs_export
@needs_runtime
def test_export_from_static_files_and_from_an_onnx_file(
    exported: Path, tmp_path: Path, test_set: MnistDataset
) -> None:
    static = DigitClassifier.load(exported, backend="static")
    written = save(static, tmp_path / "from_static", format="onnx")
    assert [p.name for p in written] == ["from_static.onnx", "from_static_meta.json"]
    from_static = DigitClassifier.load(tmp_path / "from_static")
    assert from_static.metadata.architecture == "tutorial"
    digits = test_set.images[:500]
    np.testing.assert_allclose(
        from_static.predict_proba(digits), static.predict_proba(digits), atol=1e-4
    )
    runtime = DigitClassifier.load(exported, backend="onnxruntime")
    save(runtime, tmp_path / "copy", format="onnx")
    assert (tmp_path / "copy.onnx").read_bytes() == exported.with_suffix(".onnx").read_bytes()
    with pytest.raises(ValueError, match=r"saved as \['onnx'\] only, not \['safetensors'\]"):
        save(runtime, tmp_path / "no", format=["onnx", "safetensors"])


@needs_export
def test_export_prints_nothing_and_needs_no_network(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # paddle2onnx prints from C++; its default optimiser would try to pip-install packages.
    capfd.readouterr()
    save(build_model("best", seed=0), tmp_path / "m", format="onnx")
    captured = capfd.readouterr()
    assert captured.out == "" and "pip" not in captured.err
    assert (tmp_path / "m.onnx").stat().st_size > 500_000


@pytest.mark.slow  # a subprocess or a larger export: on one Python (py311)
@needs_export
@needs_runtime
def test_a_line_reader_exports_with_a_free_width(tmp_path: Path) -> None:
    import onnxruntime

    reader = build_model("reader", seed=0)
    reader.eval()
    save(reader, tmp_path / "reader", format="onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "reader.onnx"))
    assert session.get_inputs()[0].shape == ["batch", 1, 32, "width"]
    for width in (32, 100):
        line = np.random.default_rng(width).random((2, 1, 32, width), dtype=np.float32)
        with paddle.no_grad():
            expected = reader(paddle.to_tensor(line)).numpy()
        np.testing.assert_allclose(session.run(None, {"x": line})[0], expected, atol=1e-4)


@pytest.mark.cli
@pytest.mark.slow  # a subprocess or a larger export: on one Python (py311)
@needs_export
def test_cli_export_to_onnx_from_weights_and_from_a_static_model(
    exported: Path, tmp_path: Path, test_set: MnistDataset
) -> None:
    result = cli("export", f"{exported}.safetensors", "--format", "onnx", "-o", tmp_path / "a")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("saved ") and "a.onnx" in result.stdout
    static_only = tmp_path / "static" / "m"
    save(DigitClassifier.load(exported, backend="static"), static_only, format="static")
    result = cli("export", static_only, "--format", "onnx", "-o", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    if find_spec("onnxruntime"):
        np.testing.assert_allclose(
            DigitClassifier.load(tmp_path / "b.onnx").predict_proba(test_set.images[:200]),
            DigitClassifier.load(tmp_path / "a.onnx").predict_proba(test_set.images[:200]),
            atol=1e-4,
        )
    if find_spec("onnxruntime"):
        Image.fromarray(test_set.images[0]).save(tmp_path / "d.png")
        result = cli(
            "predict",
            "--model",
            tmp_path / "a",
            "--backend",
            "onnxruntime",
            "--json",
            tmp_path / "d.png",
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["label"] == test_set.labels[0]


@needs_runtime
def test_the_onnx_file_is_checked_against_its_digest(tmp_path: Path) -> None:
    shipped = Path(mnistcnn.__file__).parent / "_models" / "weights" / "mnistcnn_best"
    for suffix in (".onnx", "_meta.json", ".json", ".pdiparams"):
        shutil.copyfile(f"{shipped}{suffix}", tmp_path / f"m{suffix}")
    data = bytearray((tmp_path / "m.onnx").read_bytes())
    data[-100] ^= 1  # one bit of one weight
    (tmp_path / "m.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"m\.onnx does not match its metadata"):
        DigitClassifier.load(tmp_path / "m", backend="onnxruntime")
    with pytest.warns(UserWarning, match="does not match its metadata.*Using the static model"):
        assert DigitClassifier.load(tmp_path / "m").backend == "static"


@needs_runtime
def test_files_onnx_runtime_cannot_use(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    (tmp_path / "junk.onnx").write_bytes(b"not a model at all")
    with pytest.raises(ModelFormatError, match=r"junk\.onnx: ONNX Runtime cannot run this file"):
        DigitClassifier.load(tmp_path / "junk.onnx")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["y"])],
        "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1024])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "wide.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match=r"input of shape \[None, 1, 32, 32\]; a digit"):
        DigitClassifier.load(tmp_path / "wide.onnx")


@needs_runtime
def test_num_threads_reaches_every_engine() -> None:
    for engine in ("static", "onnxruntime", "dynamic"):
        classifier = DigitClassifier.pretrained(backend=engine, num_threads=1)  # type: ignore[arg-type]
        assert classifier.num_threads == 1
        classifier.predict(np.zeros((28, 28), np.uint8))
    runtime = DigitClassifier.pretrained(backend="onnxruntime", num_threads=1)
    assert runtime._backend._session.get_session_options().intra_op_num_threads == 1  # type: ignore[attr-defined]
    assert DigitClassifier.pretrained(backend="dynamic").num_threads is None


def test_without_onnx_runtime_the_error_names_the_extra(tmp_path: Path) -> None:
    # A process in which onnxruntime cannot be imported, as after a plain pip install.
    script = tmp_path / "no_runtime.py"
    script.write_text(
        "import sys\n"
        "sys.modules['onnxruntime'] = None\n"
        "from mnistcnn import DigitClassifier, MissingDependencyError\n"
        "assert DigitClassifier.pretrained().backend == 'static'\n"
        "try:\n"
        "    DigitClassifier.pretrained(backend='onnxruntime')\n"
        "except MissingDependencyError as error:\n"
        "    print(error)\n"
    )
    printed = run_python(script).stdout
    assert 'needs ONNX Runtime, an optional extra: pip install "mnistcnn[onnx]".' in printed


@pytest.mark.slow  # a subprocess or a larger export: on one Python (py311)
def test_without_paddle2onnx_the_error_says_what_to_do(tmp_path: Path) -> None:
    script = tmp_path / "no_exporter.py"
    script.write_text(
        "import sys\n"
        "sys.modules['paddle2onnx'] = None\n"
        "from mnistcnn import MissingDependencyError, build_model, save\n"
        "try:\n"
        f"    save(build_model('fast'), {str(tmp_path / 'm')!r}, format='onnx')\n"
        "except MissingDependencyError as error:\n"
        "    print(error)\n"
    )
    printed = run_python(script).stdout
    assert not (tmp_path / "m_meta.json").exists()
    if sys.version_info[:2] in ((3, 10), (3, 11), (3, 12)):
        assert 'paddle2onnx, an optional extra: pip install "mnistcnn[onnx]"' in printed
    else:
        assert "wheels for Python 3.10, 3.11, 3.12 only; this is Python 3.1" in printed


@pytest.mark.skipif(sys.version_info < (3, 13), reason="paddle2onnx exists here")
def test_export_on_a_python_paddle2onnx_does_not_support(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"Python 3\.10, 3\.11, 3\.12 only; this is"):
        save(build_model("fast"), tmp_path / "m", format=["safetensors", "onnx"])
    assert list(tmp_path.iterdir()) == []  # nothing half-saved


def test_model_input_matches_the_documented_convention(test_set: MnistDataset) -> None:
    # The deployment page tells non-Python users: uint8 / 255, shape (n, 1, 28, 28), float32.
    images = test_set.images[:5]
    expected = (images.astype(np.float32) / 255)[:, None]
    np.testing.assert_allclose(to_model_input(images), expected, rtol=1e-7, atol=0)


@needs_export
@needs_runtime
def test_a_conversion_that_computes_something_else_is_refused(
    exported: Path, tmp_path: Path
) -> None:
    from mnistcnn._formats._onnx_export import _check_against_paddle

    other = tmp_path / "other"
    save(build_model("tutorial", seed=1), other, format="static")
    onnx_bytes = exported.with_suffix(".onnx").read_bytes()
    _check_against_paddle(onnx_bytes, Path(f"{exported}.json"), Path(f"{exported}.pdiparams"))
    with pytest.raises(ModelFormatError, match="does not compute what the Paddle program does"):
        _check_against_paddle(onnx_bytes, Path(f"{other}.json"), Path(f"{other}.pdiparams"))
