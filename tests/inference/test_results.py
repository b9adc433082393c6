"""The results file of ``mnistcnn predict --output``: appended, resumed, never overwritten."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mnistcnn import FilePrediction, FileReading, ReadDigit, Reading, ResultsFile, ResultsFileError

PROBABILITIES = np.array([0.01] * 9 + [0.91], np.float32)
RESULT = FilePrediction("a.png", 9, 0.91, PROBABILITIES)
DIGIT = {
    "file": "a.png",
    "label": 9,
    "probability": 0.91,
    "probabilities": [0.01] * 9 + [0.91],
}
FAILED_RESULT = FilePrediction("b.png", error="b.png: not a readable image")
FAILED = {"file": "b.png", "error": "b.png: not a readable image"}
READING = Reading(
    "314",
    0.8,
    (
        ReadDigit(3, 0.95, (0, 0, 10, 20), True),
        ReadDigit(1, 0.85, (12, 0, 20, 20), False),
        ReadDigit(4, 0.99, (22, 0, 32, 20), True),
    ),
)
NUMBER = FileReading("n.png", READING)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_are_appended_and_known_when_opened_again(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"results{suffix}"
    with ResultsFile(path, kind="digit") as results:
        assert not results.done("a.png")
        results.write(RESULT)
        results.write(FAILED_RESULT)
        assert path.read_text().count("\n") == (3 if suffix == ".csv" else 2)  # flushed at once
    assert (results.written, results.failed) == (2, 1)
    again = ResultsFile(path, kind="digit")
    assert (again.resumed, again.failed_before) == (2, 1)
    assert again.done("a.png") and again.done("b.png") and not again.done("c.png")
    assert list(again.remaining(["a.png", "c.png", "b.png", "d.png"])) == ["c.png", "d.png"]
    with again:
        again.write(FilePrediction("c.png", 9, 0.91, PROBABILITIES))
    if suffix == ".csv":
        rows = list(csv.DictReader(path.read_text().splitlines()))
        assert [r["file"] for r in rows] == ["a.png", "b.png", "c.png"]  # one header only
        assert rows[0]["label"] == "9" and rows[0]["p9"] == "0.91" and rows[0]["error"] == ""
        assert rows[1]["label"] == "" and rows[1]["error"] == FAILED["error"]
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert rows == [DIGIT, FAILED, {**DIGIT, "file": "c.png"}]
        assert rows[0] == json.loads(json.dumps(RESULT.to_dict()))  # the row is the result's own


def test_numbers_have_columns_of_their_own(tmp_path: Path) -> None:
    with ResultsFile(tmp_path / "numbers.csv", kind="number") as results:
        results.write(NUMBER)
        with pytest.raises(TypeError, match="kind 'number' takes FileReading results"):
            results.write(RESULT)
    rows = list(csv.DictReader((tmp_path / "numbers.csv").read_text().splitlines()))
    assert rows == [
        {
            "file": "n.png",
            "text": "314",
            "probability": "0.8",
            "confident": "False",
            "unsure": "2",
            "error": "",
        }
    ]


def test_a_row_cut_off_mid_write_is_dropped_and_read_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "results.jsonl"
    with ResultsFile(path, kind="digit") as results:
        results.write(RESULT)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"file": "c.png", "lab')  # the process died writing this row
    resumed = ResultsFile(path, kind="digit")
    assert "dropped its incomplete last row (22 bytes" in caplog.text
    assert path.read_bytes() == whole
    assert resumed.done("a.png") and not resumed.done("c.png")


@pytest.mark.parametrize(
    ("name", "content", "kind", "message"),
    [
        ("notes.csv", "name,phone\nann,123\n", "digit", "first line is 'name,phone'"),
        (
            "numbers.csv",
            "file,text,probability,confident,unsure,error\n",
            "digit",
            "it holds whole numbers",
        ),
        ("digits.jsonl", json.dumps(DIGIT) + "\n", "number", "it holds one digit per file"),
        ("notes.jsonl", "hello\n", "digit", "line 1 is not a JSON object"),
        (
            "short.csv",
            ",".join(("file", "label", "probability", *(f"p{d}" for d in range(10)), "error"))
            + "\na.png,7\n",
            "digit",
            "line 2: 2 fields where 14",
        ),
    ],
)
def test_another_file_is_refused_and_left_as_it_was(
    tmp_path: Path, name: str, content: str, kind: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ResultsFileError, match="never overwritten") as raised:
        ResultsFile(path, kind=kind)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert path.read_text() == content


def test_the_format_comes_from_the_ending(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end in \.csv or \.jsonl .*got \.txt"):
        ResultsFile(tmp_path / "out.txt", kind="digit")
    assert ResultsFile(tmp_path / "OUT.NDJSON", kind="digit").format == "jsonl"
    assert not (tmp_path / "OUT.NDJSON").exists()  # nothing is written before the first row


# Files as mnistcnn 0.6 wrote them (its CLI wrote rows from dicts of its own; the rows are the
# same, and such files resume).
RELEASE_0_6 = {
    "digits.csv": "file,label,probability,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,error\n"
    "scans/0.png,7,0.998213,1e-06,2e-06,0.001,3e-06,0.0,1e-06,0.0,0.998213,0.0,0.000774,\n"
    "scans/bad.png,,,,,,,,,,,,,scans/bad.png: not a readable image\n",
    "digits.jsonl": '{"file": "scans/0.png", "label": 7, "probability": 0.998213, '
    '"probabilities": [1e-06, 2e-06, 0.001, 3e-06, 0.0, 1e-06, 0.0, 0.998213, 0.0, 0.000774]}\n'
    '{"file": "scans/bad.png", "error": "scans/bad.png: not a readable image"}\n',
    "numbers.csv": "file,text,probability,confident,unsure,error\nforms/a.png,314,0.8,False,2,\n",
    "numbers.jsonl": '{"file": "forms/a.png", "text": "314", "probability": 0.8, '
    '"confident": false, "digits": [{"label": 3, "probability": 0.95, "box": [0, 0, 10, 20], '
    '"confident": true}], "boxes": []}\n',
}


@pytest.mark.parametrize("name", sorted(RELEASE_0_6))
def test_results_files_of_0_6_resume(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(RELEASE_0_6[name])
    kind = "digit" if name.startswith("digits") else "number"
    with ResultsFile(path, kind=kind) as results:
        first = "scans/0.png" if kind == "digit" else "forms/a.png"
        assert results.done(first)
        assert results.resumed == (2 if kind == "digit" else 1)
        assert results.failed_before == (1 if kind == "digit" else 0)
        results.write(FilePrediction("new.png", 9, 0.91, PROBABILITIES) if kind == "digit"
                      else FileReading("new.png", READING))  # fmt: skip
    text = path.read_text()
    assert text.startswith(RELEASE_0_6[name])  # kept as it was, the new row appended
    new = text[len(RELEASE_0_6[name]) :]
    if name.endswith(".jsonl"):
        row = json.loads(new)
        assert row["file"] == "new.png" and set(row) == set(json.loads(text.splitlines()[0]))
    else:
        assert new.startswith("new.png,") and new.count(",") == text.splitlines()[0].count(",")
