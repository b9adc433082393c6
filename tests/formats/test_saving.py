from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import paddle
import pytest

import mnistcnn
from mnistcnn import (
    DigitClassifier,
    History,
    InconsistentVersionWarning,
    MnistDataset,
    ModelFormatError,
    build_model,
    save,
)
from mnistcnn._models._kinds import LINE_ARCHITECTURES

from ..conftest import TESTS, run_python


def test_both_formats_write_paddle_names_and_metadata(saved_model: Path) -> None:
    names = sorted(p.name for p in saved_model.parent.iterdir())
    assert names == ["model.json", "model.pdiparams", "model.pdparams", "model_meta.json"]
    meta = json.loads((saved_model.parent / "model_meta.json").read_text())
    assert meta["architecture"] == "tutorial"
    assert meta["input"]["shape"] == [None, 1, 28, 28]
    assert meta["input"]["value_range"] == [0.0, 1.0]
    assert meta["output"] == {"kind": "logits", "classes": list(range(10))}
    assert meta["versions"]["paddle"] == paddle.__version__
    assert meta["versions"]["mnistcnn"] == mnistcnn.__version__
    assert set(meta["files"]) == {".json", ".pdiparams", ".pdparams"}


def test_single_formats(trained: tuple[paddle.nn.Layer, History], tmp_path: Path) -> None:
    save(trained[0], tmp_path / "d" / "m.pdparams", format="dynamic", accuracy=0.5)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["m.pdparams", "m_meta.json"]
    assert DigitClassifier.load(tmp_path / "d" / "m").metadata.accuracy == 0.5
    save(trained[0], tmp_path / "s" / "m", format="static")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "m.json",
        "m.pdiparams",
        "m_meta.json",
    ]
    with pytest.raises(
        ValueError,
        match=r"format must be one of \['dynamic', 'static', 'both', 'safetensors', 'onnx'\] or a",
    ):
        save(trained[0], tmp_path / "x", format="pickle")  # type: ignore[arg-type]


def test_failed_save_leaves_the_previous_files_intact(
    trained: tuple[paddle.nn.Layer, History], tmp_path: Path
) -> None:
    prefix = tmp_path / "model"
    save(trained[0], prefix, format="both")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    class Broken(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.linear = paddle.nn.Linear(784, 10)

        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            raise RuntimeError("export fails half-way")

    with pytest.raises(RuntimeError, match="export fails half-way"):
        save(Broken(), prefix, format="both")  # .pdparams is written before the export fails
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # same files, same bytes, no staging directory left
    assert DigitClassifier.load(prefix).predict(np.zeros((1, 28, 28), np.uint8)).shape == (1,)


def test_training_continues_after_a_static_export(
    trained: tuple[paddle.nn.Layer, History], tmp_path: Path
) -> None:
    network = build_model(seed=0)
    save(network, tmp_path / "m", format="static")
    assert network.training  # export switched to eval and back
    mnistcnn.train(
        network, (np.zeros((8, 28, 28), np.uint8), np.zeros(8, np.int64)), epochs=1, progress=False
    )


def test_both_backends_agree(
    saved_model: Path, test_set: MnistDataset, trained: tuple[paddle.nn.Layer, History]
) -> None:
    images = test_set.images[:1000]  # the whole set: the shipped model's test, a slow one
    dynamic = DigitClassifier.load(saved_model, backend="dynamic")
    static = DigitClassifier.load(saved_model, backend="static")
    p_dynamic = dynamic.predict_proba(images)
    p_static = static.predict_proba(images)
    np.testing.assert_allclose(p_static, p_dynamic, atol=1e-5)
    assert np.array_equal(static.predict(images), dynamic.predict(images))
    in_memory = DigitClassifier(trained[0]).predict_proba(images)
    np.testing.assert_allclose(p_dynamic, in_memory, atol=1e-6)


@pytest.mark.slow
def test_paddle_own_loaders_open_our_exports(
    saved_model: Path, test_set: MnistDataset, tmp_path: Path
) -> None:
    x = mnistcnn.to_model_input(test_set.images[:500])
    ours = DigitClassifier.load(saved_model, backend="dynamic").predict_proba(test_set.images[:500])
    np.save(tmp_path / "x.npy", x)
    # The tutorial's static inference code, unchanged, in its own process (it enables static mode).
    run_python(
        TESTS / "tutorial_reference.py",
        "static-predict",
        saved_model,
        tmp_path / "x.npy",
        tmp_path / "static.npy",
    )
    logits = np.load(tmp_path / "static.npy")
    np.testing.assert_allclose(
        paddle.nn.functional.softmax(paddle.to_tensor(logits)).numpy(), ours, atol=1e-5
    )
    # The tutorial's dynamic loading: paddle.Model(net).load(prefix), then predict.
    run_python(
        TESTS / "tutorial_reference.py",
        "hapi-predict",
        saved_model,
        tmp_path / "x.npy",
        tmp_path / "hapi.npy",
    )
    np.testing.assert_allclose(np.load(tmp_path / "hapi.npy"), ours, atol=1e-5)
    # paddle.jit.load, in this process (our metadata name must not confuse it).
    loaded = paddle.jit.load(str(saved_model))
    loaded.eval()
    np.testing.assert_allclose(loaded(paddle.to_tensor(x[:50])).numpy(), logits[:50], atol=1e-4)


def test_paddle_inference_predictor_opens_our_export(saved_model: Path) -> None:
    from paddle import inference

    config = inference.Config(f"{saved_model}.json", f"{saved_model}.pdiparams")
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    assert predictor.get_input_names() == ["x"]


def test_metadata_is_written_last_and_checked(saved_model: Path, tmp_path: Path) -> None:
    for path in saved_model.parent.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    weights = tmp_path / "model.pdparams"
    state = paddle.load(str(weights))
    state["7.bias"] = state["7.bias"] + 1
    paddle.save(state, str(weights))
    with pytest.raises(ModelFormatError, match="does not match its metadata"):
        DigitClassifier.load(tmp_path / "model", backend="dynamic")
    assert DigitClassifier.load(tmp_path / "model", backend="static").backend == "static"


def test_saving_a_static_classifier_is_explained(saved_model: Path, tmp_path: Path) -> None:
    static = DigitClassifier.load(saved_model, backend="static")
    with pytest.raises(
        ValueError,
        match=r"runs a static model, which holds no network: it can be saved as \['onnx', "
        r"'static'\] only, not \['dynamic'\]\. Load the weights file \(backend='dynamic'\)",
    ):
        save(static, tmp_path / "again")


def test_safetensors_weights_round_trip_exactly(
    trained: tuple[paddle.nn.Layer, History], tmp_path: Path, test_set: MnistDataset
) -> None:
    network = trained[0]
    written = save(network, tmp_path / "m", format=["safetensors", "static"])
    assert [p.name for p in written] == ["m.json", "m.pdiparams", "m.safetensors", "m_meta.json"]
    from safetensors.numpy import load_file

    arrays = load_file(str(tmp_path / "m.safetensors"))
    state = network.state_dict()
    assert sorted(arrays) == sorted(state)
    assert all(np.array_equal(arrays[name], state[name].numpy()) for name in state)
    loaded = DigitClassifier.load(tmp_path / "m.safetensors", backend="dynamic")
    assert loaded.backend == "dynamic" and loaded.metadata.architecture == "tutorial"
    images = test_set.images[:500]
    expected = DigitClassifier(network).predict_proba(images)
    assert np.array_equal(loaded.predict_proba(images), expected)


def test_many_exports_in_one_process_each_hold_their_own_network(tmp_path: Path) -> None:
    """Issue 9: a static export once failed with ``KeyError: 'linear_28.b_0'`` after other
    exports in the same process: Paddle's tracer keeps the parameters of a trace that raised
    and a later program at the same address inherits them."""
    from mnistcnn._formats._saving import trace_tables

    class Broken(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.linear = paddle.nn.Linear(784, 10)

        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            self.linear(paddle.flatten(x, 1))  # the trace records this layer's parameters...
            raise RuntimeError("the trace fails")  # ...and never forgets them

    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    for round_ in range(4):
        with pytest.raises(RuntimeError, match="the trace fails"):
            save(Broken(), tmp_path / "broken", format="static")
        for architecture in sorted(set(mnistcnn.available_models()) - LINE_ARCHITECTURES):
            network = build_model(architecture, seed=round_)
            prefix = tmp_path / f"{architecture}-{round_}"
            save(network, prefix, format="static")
            assert trace_tables() and all(table == {} for table in trace_tables())
            exported = DigitClassifier.load(prefix, backend="static").predict_proba(images)
            expected = DigitClassifier(network).predict_proba(images)
            np.testing.assert_allclose(exported, expected, atol=1e-5)


def test_a_model_from_another_major_version_warns(
    trained: tuple[paddle.nn.Layer, History], tmp_path: Path
) -> None:
    save(trained[0], tmp_path / "m", format="safetensors")
    meta_path = tmp_path / "m_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["versions"]["paddle"] = "2.6.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(InconsistentVersionWarning, match=r"written by paddle 2\.6\.2") as caught:
        DigitClassifier.load(tmp_path / "m")
    warning = caught[0].message
    assert isinstance(warning, InconsistentVersionWarning)
    assert (warning.package, warning.saved_version) == ("paddle", "2.6.2")
    assert warning.current_version == paddle.__version__
    meta["versions"]["paddle"] = paddle.__version__.rsplit(".", 1)[0] + ".99"  # same major
    meta_path.write_text(json.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DigitClassifier.load(tmp_path / "m")


def test_the_training_history_travels_with_the_model(
    trained: tuple[paddle.nn.Layer, History], tmp_path: Path
) -> None:
    network, history = trained
    assert history.seed == 0 and history.recipe.name == "tutorial"
    save(network, tmp_path / "m", format="dynamic", history=history)
    loaded = DigitClassifier.load(tmp_path / "m").metadata.history
    assert loaded == history
    meta = json.loads((tmp_path / "m_meta.json").read_text())
    assert meta["training"]["seed"] == 0
    assert meta["training"]["recipe"]["batch_size"] == 64
    assert meta["training"]["epochs"][0]["loss"] == pytest.approx(history.loss[0])
    # Re-saving the loaded classifier keeps the record; a model saved without one has none.
    save(DigitClassifier.load(tmp_path / "m"), tmp_path / "again", format="dynamic")
    assert DigitClassifier.load(tmp_path / "again").metadata.history == history
    save(network, tmp_path / "plain", format="dynamic")
    assert DigitClassifier.load(tmp_path / "plain").metadata.history is None


@pytest.mark.parametrize(
    ("training", "reason"),
    [
        ({"recipe": {"name": "x"}, "epochs": []}, "missing 4 required positional arguments"),
        ({"epochs": []}, "KeyError('recipe')"),
        ("twenty epochs", "string indices must be integers"),
    ],
)
def test_a_malformed_training_record_loads_without_it(
    trained: tuple[paddle.nn.Layer, History], tmp_path: Path, training: object, reason: str
) -> None:
    save(trained[0], tmp_path / "m", format="dynamic", history=trained[1])
    meta_path = tmp_path / "m_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["training"] = training
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(mnistcnn.MnistCnnWarning, match="'training' record cannot be read") as caught:
        classifier = DigitClassifier.load(tmp_path / "m")
    assert reason in str(caught[0].message)
    assert str(meta_path) in str(caught[0].message)
    assert classifier.metadata.history is None
    assert classifier.metadata.architecture == "tutorial"
    images = np.zeros((2, 28, 28), np.uint8)
    np.testing.assert_array_equal(
        classifier.predict_proba(images), DigitClassifier(trained[0]).predict_proba(images)
    )


def test_a_non_finite_loss_in_the_record_loads_without_it(
    trained: tuple[paddle.nn.Layer, History], tmp_path: Path
) -> None:
    save(trained[0], tmp_path / "m", format="dynamic", history=trained[1])
    meta_path = tmp_path / "m_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["training"]["epochs"][0]["loss"] = float("nan")
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(mnistcnn.MnistCnnWarning, match="not finite"):
        classifier = DigitClassifier.load(tmp_path / "m")
    assert classifier.metadata.history is None
    assert classifier.metadata.accuracy == meta["accuracy"]
