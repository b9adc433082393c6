from __future__ import annotations

import numpy as np
import paddle

from mnistcnn import DigitClassifier, EvalReport, History, MnistDataset, evaluate
from mnistcnn._evaluation import report_from_probabilities


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


def test_evaluate_matches_predict(
    trained: tuple[paddle.nn.Layer, History], test_set: MnistDataset
) -> None:
    network, _ = trained
    report = evaluate(network, test_set)
    assert isinstance(report, EvalReport)
    predicted = DigitClassifier(network).predict(test_set.images)
    assert report.accuracy == float((predicted == test_set.labels).mean())
    assert report.confusion_matrix.sum() == 10_000
    assert report.confusion_matrix.sum(axis=1).tolist() == np.bincount(test_set.labels).tolist()
    assert 0.0 < report.loss < 0.3
    assert "precision" in str(report) and f"{report.accuracy:.4f}" in str(report)
