"""Every example runs as a user would run it (with a short setting where it trains)."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_python

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_quickstart(tmp_path: Path) -> None:
    result = run_python(
        EXAMPLES / "quickstart.py", "--epochs", "1", "--limit", "2000", "--output", tmp_path / "m"
    )
    lines = result.stdout.splitlines()
    accuracy = float(lines[0].split("test accuracy ")[1].rstrip("%")) / 100
    assert accuracy >= 0.85
    truth = next(line for line in lines if line.startswith("true labels"))
    static = next(line for line in lines if line.startswith("static predicts"))
    dynamic = next(line for line in lines if line.startswith("dynamic predicts"))
    assert static.split(":")[1].strip() == dynamic.split(":")[1].strip()
    assert truth.split(":")[1].strip() == "[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]"
    assert (tmp_path / "m.json").is_file() and (tmp_path / "m.pdparams").is_file()
    assert f"static model test accuracy: {lines[0].split('test accuracy ')[1]}" in result.stdout
