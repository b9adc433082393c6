from __future__ import annotations

import numpy as np
import paddle
import pytest

from mnistcnn import EvalReport, History, MnistDataset, evaluate
from mnistcnn._inference._evaluation import report_from_probabilities


def test_report_from_known_predictions() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    probabilities = np.full((5, 10), 0.01, np.float32)
    for row, predicted in enumerate([0, 1, 1, 1, 0]):
        probabilities[row, predicted] = 0.91
    report = report_from_probabilities(probabilities, labels)
    assert report.accuracy == 3 / 5
    assert report.confusion_matrix[0].tolist()[:3] == [1, 1, 0]
    assert report.confusion_matrix[2].tolist()[:3] == [1, 0, 0]
    assert report.precision[0] == 0.5 and report.precision[1] == 2 / 3
    assert report.recall[0] == 0.5 and report.recall[1] == 1.0 and report.recall[2] == 0.0
    assert np.isnan(report.precision[2])  # never predicted
    np.testing.assert_allclose(report.loss, -(3 * np.log(0.91) + 2 * np.log(0.01)) / 5, rtol=1e-5)


def test_evaluate_agrees_with_the_network_run_by_hand(
    trained: tuple[paddle.nn.Layer, History], test_set: MnistDataset
) -> None:
    """The report against the network's own output, computed without the library's input or
    prediction code: pixels / 255 into the layer, log-softmax and argmax in NumPy."""
    network, _ = trained
    images, labels = test_set.images[:2000], test_set.labels[:2000]
    report = evaluate(network, (images, labels))
    assert isinstance(report, EvalReport)
    network.eval()
    with paddle.no_grad():
        pixels = images[:, None].astype(np.float32) / 255
        logits = np.concatenate(
            [network(paddle.to_tensor(pixels[i : i + 500])).numpy() for i in range(0, 2000, 500)]
        ).astype(np.float64)
    log_probabilities = logits - logits.max(axis=1, keepdims=True)
    log_probabilities -= np.log(np.exp(log_probabilities).sum(axis=1, keepdims=True))
    predicted = logits.argmax(axis=1)
    assert report.accuracy == float((predicted == labels).mean())
    assert report.loss == pytest.approx(
        -log_probabilities[np.arange(2000), labels].mean(), rel=1e-4
    )
    expected = np.zeros((10, 10), np.int64)
    np.add.at(expected, (labels, predicted), 1)
    assert np.array_equal(report.confusion_matrix, expected)
    assert report.accuracy > 0.85  # one epoch on 4,000 images: a network that learned
    assert "precision" in str(report) and f"{report.accuracy:.4f}" in str(report)
