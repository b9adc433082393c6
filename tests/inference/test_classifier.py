from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from mnistcnn import (
    DigitClassifier,
    ImageError,
    ImageNotFoundError,
    ImageTypeError,
    MnistDataset,
    ModelFormatError,
    ModelNotFoundError,
    build_model,
    save,
)

from ..conftest import TESTS, run_python


def test_contract_shapes_and_types(classifier: DigitClassifier, test_set: MnistDataset) -> None:
    probabilities = classifier.predict_proba(test_set.images[:100])
    assert probabilities.shape == (100, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    labels = classifier.predict(test_set.images[:100])
    assert labels.shape == (100,) and labels.dtype == np.int64
    assert classifier.classes_.tolist() == list(range(10))
    assert np.array_equal(labels, classifier.classes_[probabilities.argmax(axis=1)])
    assert (labels == test_set.labels[:100]).mean() >= 0.9


def test_every_array_form_gives_the_same_answer(
    classifier: DigitClassifier, test_set: MnistDataset
) -> None:
    images = test_set.images[:5]
    expected = classifier.predict_proba(images)
    for form in (images[:, None], images / 255.0, images.astype(np.float32) / 255, list(images)):
        np.testing.assert_allclose(classifier.predict_proba(form), expected, atol=1e-6)
    np.testing.assert_allclose(classifier.predict_proba(images[0]), expected[:1], atol=1e-6)
    assert classifier.predict(np.empty((0, 28, 28), np.uint8)).shape == (0,)


def test_pil_images_and_files_of_mnist_digits(
    classifier: DigitClassifier, test_set: MnistDataset, tmp_path: Path
) -> None:
    images = test_set.images[:20]
    expected = classifier.predict(images)
    pil = [Image.fromarray(image) for image in images]
    assert np.array_equal(classifier.predict(pil), expected)
    paths = []
    for i, image in enumerate(pil):
        image.save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    assert np.array_equal(classifier.predict(paths), expected)
    assert np.array_equal(classifier.predict([str(p) for p in paths]), expected)
    assert classifier.predict(paths[0]).tolist() == expected[:1].tolist()


def test_dark_ink_on_white_pictures_are_normalised(
    classifier: DigitClassifier, test_set: MnistDataset, tmp_path: Path
) -> None:
    images = test_set.images[:50]
    pictures = []
    for image in images:
        big = Image.fromarray(255 - image).resize((112, 112), Image.Resampling.BICUBIC)
        canvas = Image.new("L", (300, 200), 255)
        canvas.paste(big, (150, 60))
        pictures.append(canvas)
    accuracy = (classifier.predict(pictures) == test_set.labels[:50]).mean()
    assert accuracy >= 0.9, accuracy


def test_streams_large_inputs_in_fixed_batches(test_set: MnistDataset) -> None:
    seen: list[int] = []

    class Recorder(paddle.nn.Layer):
        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            seen.append(x.shape[0])
            return paddle.zeros([x.shape[0], 10])

    big = np.broadcast_to(test_set.images[0], (1000, 28, 28))  # no copy: 1000 views of one image
    DigitClassifier(Recorder()).predict(big, batch_size=64)
    assert seen == [64] * 15 + [40]


def test_bad_images_raise_typed_errors(classifier: DigitClassifier, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError, match=r"notes\.txt: not a readable image"):
        classifier.predict(tmp_path / "notes.txt")
    with pytest.raises(ImageNotFoundError, match=r"missing\.png: no such file") as missing:
        classifier.predict(tmp_path / "missing.png")
    assert isinstance(missing.value, FileNotFoundError)
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="blank"):
        classifier.predict(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="values in"):
        classifier.predict(np.full((2, 28, 28), 200.0))
    with pytest.raises(ImageTypeError, match="cannot read images from a dict") as wrong_type:
        classifier.predict({"a": 1})  # type: ignore[arg-type]
    assert isinstance(wrong_type.value, TypeError)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        classifier.predict(np.zeros((2, 28, 28), np.uint8), batch_size=0)


def test_load_accepts_the_prefix_or_any_file(saved_model: Path) -> None:
    # A prefix (or the metadata, which stands for the whole model) picks the fastest engine
    # there are files for; a file with a suffix is that file, on the engine that runs it.
    expected = {
        "model": "static",
        "model_meta.json": "static",
        "model.pdparams": "dynamic",
        "model.json": "static",
        "model.pdiparams": "static",
    }
    for name, backend in expected.items():
        loaded = DigitClassifier.load(saved_model.parent / name)
        assert loaded.backend == backend, name
        assert loaded.metadata.architecture == "tutorial"
    assert DigitClassifier.load(saved_model, backend="dynamic").network is not None
    assert DigitClassifier.load(saved_model, backend="static").network is None


def test_missing_model_errors(tmp_path: Path, trained: tuple[paddle.nn.Layer, object]) -> None:
    with pytest.raises(
        ModelNotFoundError,
        match=r"expected .*nothing\.pdparams, .*nothing\.json .*, or .*nothing\.onnx\.",
    ):
        DigitClassifier.load(tmp_path / "nothing")
    save(trained[0], tmp_path / "dyn", format="dynamic")
    with pytest.raises(ModelNotFoundError, match="no static model found") as info:
        DigitClassifier.load(tmp_path / "dyn", backend="static")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(
        ModelNotFoundError, match=r"no onnxruntime model found: expected .*dyn\.onnx"
    ):
        DigitClassifier.load(tmp_path / "dyn", backend="onnxruntime")
    with pytest.raises(
        ValueError, match=r"backend must be None or one of \['dynamic', 'static', 'onnxruntime'\]"
    ):
        DigitClassifier.load(tmp_path / "dyn", backend="onnx")  # type: ignore[arg-type]


def test_stale_files_of_another_save_are_not_used(
    trained: tuple[paddle.nn.Layer, object], tmp_path: Path
) -> None:
    save(build_model(seed=1), tmp_path / "other", format="both")
    save(trained[0], tmp_path / "m", format="both")
    # Another network: its save removes the static files of the first, when asked to.
    save(build_model(seed=2), tmp_path / "m", format="dynamic", replace=True)
    assert sorted(p.name for p in tmp_path.glob("m*")) == ["m.pdparams", "m_meta.json"]
    for suffix in (".json", ".pdiparams"):  # static files of another model, copied in by hand
        (tmp_path / f"m{suffix}").write_bytes((tmp_path / f"other{suffix}").read_bytes())
    loaded = DigitClassifier.load(tmp_path / "m")
    assert loaded.backend == "dynamic"  # the metadata says only .pdparams is current
    with pytest.raises(ModelNotFoundError, match=r"lists only: \.pdparams"):
        DigitClassifier.load(tmp_path / "m", backend="static")


def test_wrong_architecture_and_damaged_weights(tmp_path: Path) -> None:
    paddle.save({"weight": paddle.zeros([3, 3])}, str(tmp_path / "other.pdparams"))
    with pytest.raises(ModelFormatError, match="do not fit architecture 'tutorial'"):
        DigitClassifier.load(tmp_path / "other.pdparams")
    (tmp_path / "junk.pdparams").write_bytes(b"\x00garbage")
    with pytest.raises(ModelFormatError, match="not a readable Paddle weights file"):
        DigitClassifier.load(tmp_path / "junk")
    with pytest.raises(ModelFormatError, match="unknown architecture 'vgg'"):
        DigitClassifier.load(tmp_path / "other", architecture="vgg")
    (tmp_path / "bad_meta.json").write_text("{not json")
    (tmp_path / "bad.pdparams").write_bytes(b"")
    with pytest.raises(ModelFormatError, match=r"bad_meta\.json: not valid JSON"):
        DigitClassifier.load(tmp_path / "bad")


def test_in_memory_layer_and_type_error(trained: tuple[paddle.nn.Layer, object]) -> None:
    classifier = DigitClassifier(trained[0])
    assert classifier.backend == "dynamic" and classifier.network is trained[0]
    with pytest.raises(TypeError, match=r"DigitClassifier\.load"):
        DigitClassifier("model.pdparams")  # type: ignore[arg-type]


@pytest.mark.slow
def test_tutorial_files_load_and_keep_the_tutorial_output(
    tutorial_files: Path, test_set: MnistDataset, tmp_path: Path
) -> None:
    x_images = test_set.images[:300]
    np.save(tmp_path / "x.npy", (x_images[:, None] / 255.0).astype(np.float32))
    run_python(
        TESTS / "tutorial_reference.py",
        "hapi-predict",
        tutorial_files / "mnist_cnn_model",
        tmp_path / "x.npy",
        tmp_path / "tutorial.npy",
    )
    tutorial_output = np.load(tmp_path / "tutorial.npy")  # softmax probabilities
    dynamic = DigitClassifier.load(tutorial_files / "mnist_cnn_model.pdparams")
    assert dynamic.backend == "dynamic" and dynamic.metadata.architecture == "tutorial"
    np.testing.assert_allclose(dynamic.predict_proba(x_images), tutorial_output, atol=1e-5)
    static = DigitClassifier.load(tutorial_files / "inference" / "mnist_cnn_model")
    assert static.backend == "static" and static.metadata.output == "probabilities"
    np.testing.assert_allclose(static.predict_proba(x_images), tutorial_output, atol=1e-5)
    # Re-saved by the library, the tutorial's weights carry metadata and give the same output.
    save(dynamic, tmp_path / "resaved")
    np.testing.assert_allclose(
        DigitClassifier.load(tmp_path / "resaved").predict_proba(x_images),
        tutorial_output,
        atol=1e-5,
    )


def test_legacy_pdmodel_export_loads(tmp_path: Path, test_set: MnistDataset) -> None:
    script = tmp_path / "legacy.py"
    script.write_text(
        "import sys, paddle, mnistcnn\n"
        "net = mnistcnn.build_model(seed=0)\n"
        "net.eval()\n"
        "spec = paddle.static.InputSpec([None, 1, 28, 28], 'float32', 'x')\n"
        "paddle.jit.save(net, sys.argv[1], input_spec=[spec])\n"
        "paddle.save(net.state_dict(), sys.argv[1] + '_dyn.pdparams')\n"
    )
    import os
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "legacy")],
        check=True,
        capture_output=True,
        env={**os.environ, "FLAGS_enable_pir_api": "0"},
    )
    assert (tmp_path / "legacy.pdmodel").is_file() and not (tmp_path / "legacy.json").exists()
    static = DigitClassifier.load(tmp_path / "legacy.pdmodel")
    dynamic = DigitClassifier.load(tmp_path / "legacy_dyn.pdparams")
    np.testing.assert_allclose(
        static.predict_proba(test_set.images[:100]),
        dynamic.predict_proba(test_set.images[:100]),
        atol=1e-5,
    )


def test_unreadable_static_model_falls_back_to_dynamic(saved_model: Path, tmp_path: Path) -> None:
    import dataclasses

    from mnistcnn import ModelMetadata
    from mnistcnn._formats._files import file_sha256

    for path in saved_model.parent.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    program = tmp_path / "model.json"
    text = program.read_text()
    program.write_text(text.replace('"1.conv2d"', '"1.conv9d"'))  # an op of a newer Paddle
    metadata = ModelMetadata.read(tmp_path / "model_meta.json")
    files = {**metadata.files, ".json": file_sha256(program)}
    (tmp_path / "model_meta.json").write_text(dataclasses.replace(metadata, files=files).to_json())
    with pytest.warns(UserWarning, match="cannot run this static model.*Using the dynamic model"):
        loaded = DigitClassifier.load(tmp_path / "model")
    assert loaded.backend == "dynamic"
    with pytest.raises(ModelFormatError, match="Upgrade paddlepaddle"):
        DigitClassifier.load(tmp_path / "model", backend="static")


def test_classes_come_from_each_models_metadata_and_cannot_be_changed(saved_model: Path) -> None:
    one, other = DigitClassifier.load(saved_model), DigitClassifier.load(saved_model)
    assert one.classes_.tolist() == list(one.metadata.classes) == list(range(10))
    assert one.classes_ is not other.classes_  # nothing shared between instances
    with pytest.raises(ValueError, match="read-only"):
        one.classes_[0] = 7
    assert other.predict(np.zeros((1, 28, 28), np.uint8)).dtype == np.int64
