"""The matplotlib figures: what they draw, checked against the data they were given."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from mnistcnn import (
    DigitClassifier,
    History,
    MissingDependencyError,
    MnistDataset,
    evaluate,
    plot_confusion_matrix,
    plot_digits,
    plot_history,
    plot_model_view,
    train,
)

from ..conftest import run_python
from ..pictures import canvas_drawing, photo_of

matplotlib = pytest.importorskip("matplotlib")


def _png_size(figure: object) -> tuple[int, int]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50)  # type: ignore[attr-defined]
    buffer.seek(0)
    with Image.open(buffer) as image:
        assert image.format == "PNG"
        return image.size


def test_plot_digits_draws_each_digit_with_its_caption(test_set: MnistDataset) -> None:
    images, labels = test_set.images[:12], test_set.labels[:12]
    predictions = labels.copy()
    predictions[3] = (labels[3] + 1) % 10
    figure = plot_digits(images, labels, predictions=predictions, columns=5, title="sample")
    assert len(figure.axes) == 15  # 3 rows of 5; the last 3 cells are blank
    drawn = [ax for ax in figure.axes if ax.images]
    assert len(drawn) == 12
    np.testing.assert_array_equal(drawn[7].images[0].get_array(), images[7])
    assert drawn[0].get_title() == str(labels[0])
    wrong = drawn[3].title
    assert wrong.get_text() == f"{labels[3]} → {predictions[3]}"
    assert matplotlib.colors.to_hex(wrong.get_color()) != "#000000"
    assert [t.get_text() for t in figure.texts] == ["sample"]  # the suptitle
    width, height = _png_size(figure)
    assert width > height > 0


def test_plot_digits_takes_float_and_channel_first_arrays(test_set: MnistDataset) -> None:
    unit = test_set.images[:3, None].astype(np.float32) / 255  # (3, 1, 28, 28) in [0, 1]
    figure = plot_digits(unit)
    assert [ax.images[0].get_clim() for ax in figure.axes] == [(0.0, 1.0)] * 3
    assert all(ax.get_title() == "" for ax in figure.axes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((4, 32, 32), np.uint8),), r"shaped \(n, 28, 28\).*got \(4, 32, 32\)"),
        ((np.zeros((0, 28, 28), np.uint8),), "n >= 1"),
        ((np.zeros((4, 28, 28), np.uint8), [1, 2]), "4 images but 2 labels"),
    ],
)
def test_plot_digits_refuses_what_it_cannot_draw(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot_digits(*args)  # type: ignore[arg-type]


def test_plot_history_draws_the_recorded_curves(train_set: MnistDataset) -> None:
    network = paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(784, 10))
    data = (train_set.images[:2000], train_set.labels[:2000])
    val = (train_set.images[-1000:], train_set.labels[-1000:])
    history = train(network, data, val=val, epochs=3, batch_size=100, seed=1, progress=False)
    figure = plot_history(history)
    loss_ax, accuracy_ax = figure.axes
    train_loss, val_loss = loss_ax.get_lines()
    np.testing.assert_allclose(train_loss.get_ydata(), history.loss)
    np.testing.assert_allclose(val_loss.get_ydata(), [e.val_loss for e in history.epochs])
    train_acc, val_acc = accuracy_ax.get_lines()
    np.testing.assert_allclose(train_acc.get_ydata(), [100 * a for a in history.accuracy])
    np.testing.assert_array_equal(val_acc.get_xdata(), [1, 2, 3])
    title = f"recipe 'tutorial', 3 epochs, batch 100, seed 1, {history.seconds:.0f} s"
    assert [t.get_text() for t in figure.texts] == [title]
    # The final validation accuracy is written on the plot.
    assert f"{100 * history.epochs[-1].val_accuracy:.2f}%" in [
        t.get_text() for t in accuracy_ax.texts
    ]
    # Without validation data there is one curve per panel.
    history_without = History(
        tuple(
            e.__class__(e.epoch, e.loss, e.accuracy, None, None, e.seconds) for e in history.epochs
        ),
        recipe=history.recipe,
    )
    assert [len(ax.get_lines()) for ax in plot_history(history_without).axes] == [1, 1]
    with pytest.raises(ValueError, match="no epochs"):
        plot_history(History((), recipe=history.recipe))
    with pytest.raises(TypeError, match="saved without its training history"):
        plot_history(None)  # type: ignore[arg-type]


def test_plot_confusion_matrix_shows_every_count(
    classifier: DigitClassifier, test_set: MnistDataset
) -> None:
    report = evaluate(classifier, test_set)
    figure = plot_confusion_matrix(report)
    ax = figure.axes[0]
    counts = {
        (round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text())
        for t in ax.texts
    }
    assert sum(counts.values()) == len(test_set)
    for (row, column), count in counts.items():
        assert report.confusion_matrix[row, column] == count
    assert ax.get_title() == f"10,000 images, accuracy {report.accuracy:.2%}"
    assert ax.get_xlabel() == "predicted digit" and ax.get_ylabel() == "true digit"
    _png_size(figure)


def test_plot_confusion_matrix_draws_into_given_axes() -> None:
    from matplotlib.figure import Figure

    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ax=right, title="two") is figure
    assert right.get_title() == "two" and not left.texts
    with pytest.raises(ValueError, match="square matrix of non-negative counts"):
        plot_confusion_matrix(np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match="square matrix of non-negative counts"):
        plot_confusion_matrix(np.array([[1, -2], [0, 1]]))


def test_plot_model_view_shows_the_input_and_the_probabilities(
    test_set: MnistDataset, tmp_path: Path
) -> None:
    classifier = DigitClassifier.pretrained()
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.jpg"
    photo_of(test_set.images[1], rng).save(photo)
    drawing = canvas_drawing(test_set.images[2])
    pictures = [photo, drawing, test_set.images[3]]
    figure = plot_model_view(classifier, pictures)
    assert len(figure.axes) == 9
    probabilities = classifier.predict_proba(pictures)
    for row, picture in enumerate(pictures):
        given, seen, bars = figure.axes[3 * row : 3 * row + 3]
        assert given.get_title() == "the picture" and len(given.images) == 1
        np.testing.assert_array_equal(seen.images[0].get_array(), classifier.preprocess(picture))
        heights = [patch.get_height() for patch in bars.patches]
        np.testing.assert_allclose(heights, 100 * probabilities[row], atol=1e-3)
        best = int(probabilities[row].argmax())
        assert bars.get_title() == f"it reads {best} ({100 * probabilities[row, best]:.1f}%)"
        assert best == test_set.labels[1 + row]
    # The photo is shown as a person sees it: upright, in colour, at most 512 pixels wide.
    shown = figure.axes[0].images[0].get_array()
    assert shown.shape == (240, 320, 3)
    _png_size(figure)
    # Encoded bytes are one picture too, as everywhere else: the same view as the file's.
    from_bytes = plot_model_view(classifier, photo.read_bytes())
    assert len(from_bytes.axes) == 3
    np.testing.assert_array_equal(
        from_bytes.axes[1].images[0].get_array(), classifier.preprocess(photo)
    )


def test_plot_model_view_refuses_an_unknown_preprocess(test_set: MnistDataset) -> None:
    with pytest.raises(
        ValueError, match=r"preprocess must be one of \['auto', 'normalize', 'raw'\]"
    ):
        plot_model_view(DigitClassifier.pretrained(), test_set.images[0], preprocess="scale")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no pictures"):
        plot_model_view(DigitClassifier.pretrained(), [])


def test_without_matplotlib_the_error_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if it were not installed\n"
        "import numpy as np\n"
        "from mnistcnn import MissingDependencyError, plot_digits\n"
        "try:\n"
        "    plot_digits(np.zeros((1, 28, 28), np.uint8))\n"
        "except MissingDependencyError as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    out = run_python("-c", code).stdout
    assert 'pip install "mnistcnn[plot]"' in out
    assert issubclass(MissingDependencyError, ImportError)


def test_import_mnistcnn_does_not_import_matplotlib() -> None:
    code = "import mnistcnn, sys; mnistcnn.plot_digits; print('matplotlib' in sys.modules)"
    assert run_python("-c", code).stdout.strip().endswith("False")
