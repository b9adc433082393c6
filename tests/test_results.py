"""The results file of ``mnistcnn predict --output``: appended, resumed, never overwritten."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mnistcnn._inference._results import ResultsFile, ResultsFileError

DIGIT = {"file": "a.png", "label": 7, "probability": 0.9, "probabilities": [0.01] * 9 + [0.91]}
FAILED = {"file": "b.png", "error": "b.png: not a readable image"}
NUMBER = {
    "file": "n.png",
    "text": "314",
    "probability": 0.8,
    "confident": False,
    "digits": [{"confident": True}, {"confident": False}, {"confident": True}],
}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_are_appended_and_known_when_opened_again(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"results{suffix}"
    with ResultsFile(path, kind="digit") as results:
        assert not results.done("a.png")
        results.write(DIGIT)
        results.write(FAILED)
        assert path.read_text().count("\n") == (3 if suffix == ".csv" else 2)  # flushed at once
    again = ResultsFile(path, kind="digit")
    assert (again.resumed, again.failed_before) == (2, 1)
    assert again.done("a.png") and again.done("b.png") and not again.done("c.png")
    with again:
        again.write({**DIGIT, "file": "c.png"})
    if suffix == ".csv":
        rows = list(csv.DictReader(path.read_text().splitlines()))
        assert [r["file"] for r in rows] == ["a.png", "b.png", "c.png"]  # one header only
        assert rows[0]["label"] == "7" and rows[0]["p9"] == "0.91" and rows[0]["error"] == ""
        assert rows[1]["label"] == "" and rows[1]["error"] == FAILED["error"]
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert rows == [DIGIT, FAILED, {**DIGIT, "file": "c.png"}]


def test_numbers_have_columns_of_their_own(tmp_path: Path) -> None:
    with ResultsFile(tmp_path / "numbers.csv", kind="number") as results:
        results.write(NUMBER)
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
        results.write(DIGIT)
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
