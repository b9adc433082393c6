"""The command line, run as users run it: a separate process, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import DigitClassifier, MnistDataset
from mnistcnn._cli._main import build_parser, main

from ..conftest import cli


@pytest.mark.cli
@pytest.mark.smoke
def test_help_and_version() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict", "export", "show"):
        assert command in result.stdout
    from mnistcnn import __version__

    assert cli("--version").stdout.strip() == f"mnistcnn {__version__}"


@pytest.mark.cli
@pytest.mark.slow
def test_train_evaluate_export_predict(
    tmp_path: Path, mnist_dir: Path, test_set: MnistDataset
) -> None:
    prefix = tmp_path / "net"
    trained = cli(
        "train",
        "--epochs",
        "1",
        "--limit",
        "3000",
        "--seed",
        "0",
        "-q",
        "-o",
        prefix,
        "--format",
        "dynamic",
        "--validate",
    )
    assert trained.returncode == 0, trained.stderr
    accuracy = float(trained.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.85
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pdparams", "net_meta.json"]
    metadata = DigitClassifier.load(prefix).metadata
    assert metadata.accuracy == pytest.approx(accuracy, abs=1e-4)
    # The training record: recipe, seed, and (--validate) the test accuracy after the epoch.
    assert metadata.history is not None
    assert (metadata.history.recipe.name, metadata.history.seed) == ("tutorial", 0)
    assert len(metadata.history.epochs) == 1
    assert metadata.history.epochs[0].val_accuracy == pytest.approx(accuracy, abs=1e-4)

    evaluated = cli("evaluate", prefix, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(accuracy, abs=1e-4)

    exported = cli("export", prefix.with_suffix(".pdparams"), "-o", tmp_path / "static")
    assert exported.returncode == 0, exported.stderr
    static = DigitClassifier.load(tmp_path / "static")
    assert static.backend == "static"

    files = []
    for i in range(3):
        Image.fromarray(test_set.images[i]).save(tmp_path / f"d{i}.png")
        files.append(tmp_path / f"d{i}.png")
    predicted = cli("predict", "--model", tmp_path / "static", *files, "--json")
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [row["label"] for row in rows] == static.predict(test_set.images[:3]).tolist()
    assert all(0 <= row["probability"] <= 1 and len(row["probabilities"]) == 10 for row in rows)

    plain = cli("predict", "--model", prefix, files[0])
    assert plain.stdout.startswith(f"{files[0]}: {rows[0]['label']} (p=")


@pytest.mark.cli
def test_predict_reports_a_bad_file_and_goes_on(
    tmp_path: Path, saved_model: Path, test_set: MnistDataset
) -> None:
    Image.fromarray(test_set.images[0]).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    result = cli("predict", "--model", saved_model, tmp_path / "bad.png", tmp_path / "good.png")
    assert result.returncode == 1
    assert "bad.png: not a readable image" in result.stderr
    assert "good.png: 7" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.cli
def test_show_writes_a_png(tmp_path: Path, saved_model: Path) -> None:
    result = cli(
        "show",
        "--split",
        "test",
        "--count",
        "10",
        "-o",
        tmp_path / "grid.png",
        "--model",
        saved_model,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.format == "PNG" and grid.width > 200 and grid.height > 90


@pytest.mark.cli
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "nowhere/model"], "no model found"),
        (["predict", "--model", "nowhere/m", "x.png"], "no model found: expected"),
        (["show", "--count", "0"], "--count must be at least 1"),
        (["train", "--model", "nope", "--limit", "10"], "unknown model 'nope'"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_1(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.cli
def test_missing_data_is_explained(tmp_path: Path) -> None:
    env = {**os.environ, "MNISTCNN_DATA": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "mnistcnn", "show", "--no-download"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1
    assert "MNIST train files not found" in result.stderr and "MNISTCNN_DATA" in result.stderr


@pytest.mark.cli
@pytest.mark.smoke
def test_argument_errors_exit_2() -> None:
    assert cli("train", "--epochs", "many").returncode == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_parser_is_the_documented_one() -> None:
    parser = build_parser()
    assert parser.prog == "mnistcnn"
    defaults = parser.parse_args(["train"])
    assert (defaults.recipe, defaults.epochs, defaults.procs, defaults.format) == (
        "tutorial",
        None,
        1,
        "both",
    )


@pytest.mark.cli
def test_export_converts_between_weight_formats(tmp_path: Path) -> None:
    from mnistcnn import build_model, save

    network = build_model("fast", seed=3)
    save(network, tmp_path / "m", format="dynamic")
    exported = cli(
        "export", tmp_path / "m.pdparams", "-o", tmp_path / "safe", "--format", "safetensors"
    )
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("safe")) == [
        "safe.safetensors",
        "safe_meta.json",
    ]
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    expected = DigitClassifier(network).predict_proba(images)
    assert np.array_equal(DigitClassifier.load(tmp_path / "safe").predict_proba(images), expected)
    both = cli("export", tmp_path / "safe", "-o", tmp_path / "st", "--format", "static")
    assert both.returncode == 0, both.stderr
    static = DigitClassifier.load(tmp_path / "st")
    assert static.backend == "static"
    np.testing.assert_allclose(static.predict_proba(images), expected, atol=1e-5)


@pytest.mark.cli
@pytest.mark.slow
def test_the_library_speaks_in_plain_lines_not_paddles_log_format(
    tmp_path: Path, mnist_dir: Path
) -> None:
    args = ["train", "--recipe", "fast", "--epochs", "1", "--limit", "512", "-q"]
    args += ["--checkpoint-dir", str(tmp_path / "ck"), "-o", str(tmp_path / "m")]
    first = cli(*args, env={"MNISTCNN_DATA": str(mnist_dir)})
    assert first.returncode == 0, first.stderr
    resumed = cli(*args, env={"MNISTCNN_DATA": str(mnist_dir)})
    assert resumed.returncode == 0, resumed.stderr
    assert f"mnistcnn: resuming from {tmp_path / 'ck' / 'epoch-0001'} after epoch 1" in (
        resumed.stderr.splitlines()
    )
    assert "INFO]" not in resumed.stderr and "ccache" not in resumed.stderr  # Paddle's format


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_serve_warns_unless_it_listens_on_loopback(host: str, loopback: bool) -> None:
    from mnistcnn._cli._commands import _loopback

    assert _loopback(host) is loopback


# --- predict on very many files: streaming, --output, resuming ---------------------------------


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory, test_set: MnistDataset) -> Path:
    """60 MNIST test digits in a tree of folders (dark ink on white, as scanned), and a file
    that is not a picture among them."""
    root = tmp_path_factory.mktemp("scans")
    for index in range(60):
        folder = root / f"batch{index % 3}" / f"page{index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - test_set.images[index]).save(folder / f"{index:02d}.png")
    (root / "batch1" / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n cut off")
    return root


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def test_predict_writes_a_row_per_file_and_resumes_where_it_stopped(
    tmp_path: Path, scans: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnistcnn import find_images

    output = tmp_path / "results.csv"
    assert main(["predict", str(scans), "--output", str(output), "--batch-size", "8"]) == 1
    _, err = capsys.readouterr()
    assert "predict: 100%" in err and "61/61" in err  # tqdm's bar, on stderr
    assert f"60 files read, 1 failed; results in {output}" in err
    rows = _csv_rows(output)
    files = list(find_images(scans))
    assert [row["file"] for row in rows] == files
    failed = [row for row in rows if row["error"]]
    assert len(failed) == 1 and failed[0]["file"].endswith("damaged.png")
    assert "not a readable image" in failed[0]["error"] and failed[0]["label"] == ""
    classifier = DigitClassifier.pretrained()
    good = [name for name in files if not name.endswith("damaged.png")]
    assert [int(row["label"]) for row in rows if not row["error"]] == classifier.predict(
        good
    ).tolist()

    # The run is stopped after 25 files, in the middle of writing a row; run again.
    text = output.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    output.write_text("".join(lines[:26]) + lines[26][:30], encoding="utf-8")
    assert main(["predict", str(scans), "-o", str(output)]) == 1  # the damaged file is still there
    _, err = capsys.readouterr()
    assert "dropped its incomplete last row" in err
    assert "36 files read, 0 failed; 25 skipped, already in" in err
    assert "(1 of them failed)" in err
    assert output.read_text(encoding="utf-8") == text  # each file once, as if never stopped

    # Done: a third run reads nothing.
    assert main(["predict", str(scans), "-o", str(output), "-q"]) == 1
    assert capsys.readouterr().err == ""
    assert output.read_text(encoding="utf-8") == text


def test_predict_reads_a_file_list_from_standard_input_into_json_lines(
    tmp_path: Path, scans: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from mnistcnn import find_images

    files = list(find_images(scans / "batch0"))
    listing = "# scanned on Monday\n" + "\n".join(files[:5]) + f"\n\n{tmp_path / 'gone.png'}\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(listing))
    output = tmp_path / "results.jsonl"
    assert main(["predict", "--files-from", "-", "-o", str(output), "-q"]) == 1
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["file"] for row in rows] == [*files[:5], str(tmp_path / "gone.png")]
    expected = DigitClassifier.pretrained().predict_proba(files[:5])
    np.testing.assert_allclose([row["probabilities"] for row in rows[:5]], expected, atol=1e-6)
    assert "gone.png" in rows[5]["error"] and "label" not in rows[5]
    assert "gone.png" in capsys.readouterr().err  # -q still names each failure


def test_predict_never_overwrites_a_file_that_is_not_its_own(
    tmp_path: Path, scans: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "budget.csv"
    output.write_text("month,amount\nMay,12\n")
    assert main(["predict", str(scans), "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert "budget.csv exists and is not a results file of 'mnistcnn predict'" in err
    assert "never overwritten" in err
    assert output.read_text() == "month,amount\nMay,12\n"
    assert main(["predict", "-o", str(tmp_path / "r.csv")]) == 1
    assert "name the pictures" in capsys.readouterr().err


@pytest.mark.cli
def test_predict_killed_midway_resumes_to_the_same_results(tmp_path: Path, scans: Path) -> None:
    """SIGKILL while a large tree streams to a results file, then the same command again: every
    file ends up with exactly one row, the same as a run that was never stopped."""
    many = tmp_path / "many"
    for copy in range(12):  # 732 files
        shutil.copytree(scans, many / f"copy{copy:02d}")
    output = tmp_path / "results.csv"
    command = [sys.executable, "-m", "mnistcnn", "predict", str(many), "-o", str(output), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if output.exists() and output.read_text().count("\n") > 200:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be stopped"
    process.kill()
    process.wait()
    stopped_at = output.read_text().count("\n")
    assert 200 < stopped_at < 733
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 1, resumed.stderr  # 12 damaged files
    reference = tmp_path / "reference.csv"
    subprocess.run([*command[:-3], "-o", str(reference), "-q"], check=False, timeout=300)
    assert output.read_text() == reference.read_text()
    assert len(_csv_rows(output)) == 732


# --- manners: what Unix users expect of a command ----------------------------------------------


@pytest.mark.cli
def test_a_closed_pipe_ends_the_output_quietly(tmp_path: Path, mnist_dir: Path) -> None:
    """``mnistcnn evaluate --json | head``: the reader has gone when the result is written.
    The command stops as Unix tools do, with no "Broken pipe" message or traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written, as `head` can be
    try:
        result = subprocess.run(
            [sys.executable, "-m", "mnistcnn", "evaluate", "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MNISTCNN_DATA": str(mnist_dir)},
            timeout=600,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141  # 128 + SIGPIPE, as the shell reports such a command
    assert result.stderr == ""


def test_predict_says_when_it_finds_no_pictures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    assert main(["predict", str(empty)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"mnistcnn predict: error: found no pictures in {empty} (")
    assert ".png" in captured.err
    listing = tmp_path / "list.txt"
    listing.write_text("# nothing yet\n")
    assert main(["predict", "--files-from", str(listing), "-o", str(tmp_path / "r.csv")]) == 1
    assert "found no pictures in" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("command", ["predict", "train", "serve"])
def test_a_bad_option_shows_its_commands_usage(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: mnistcnn {command} ")
    assert err.rstrip().endswith(f"mnistcnn {command}: error: unrecognized arguments: --bogus")


def test_counts_agree_in_number(
    tmp_path: Path, test_set: MnistDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.fromarray(255 - test_set.images[0]).save(tmp_path / "seven.png")
    assert main(["predict", "--digits", str(tmp_path / "seven.png"), "--min-confidence", "1"]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"{tmp_path / 'seven.png'}: 7 (p=")
    assert "; 1 digit; unsure: digit 1)" in line
    output = tmp_path / "results.csv"
    assert main(["predict", str(tmp_path / "seven.png"), "-o", str(output)]) == 0
    assert f"mnistcnn predict: 1 file read, 0 failed; results in {output}" in (
        capsys.readouterr().err
    )


def test_predict_digits_json_is_the_readings_own_form(
    tmp_path: Path, test_set: MnistDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / "number.png"
    Image.fromarray(255 - np.hstack([test_set.images[i] for i in (0, 1, 2)])).save(picture)
    assert main(["predict", "--digits", "--json", str(picture)]) == 0
    row = json.loads(capsys.readouterr().out)
    reading = DigitClassifier.pretrained().read_digits(picture)
    assert row == json.loads(json.dumps({"file": str(picture), **reading.to_dict()}))
    assert row["text"] == "721" and [d["label"] for d in row["digits"]] == [7, 2, 1]


def test_sizes_say_mib_where_they_mean_mib() -> None:
    from mnistcnn._cli._parser import byte_size

    assert byte_size("10MiB") == byte_size("10M") == byte_size("10 mib") == 10 * 1024**2
    assert byte_size("10MB") == 10_000_000  # SI: what MB means
    assert byte_size("512KiB") == 512 * 1024 and byte_size("512kB") == 512_000
    assert byte_size("1048576") == 1024**2
    serve = build_parser().parse_args(["serve"])
    assert serve.max_body == 10 * 1024**2  # the default, 10MiB, is the server's own default
    from mnistcnn._serving._app import DEFAULT_MAX_BODY

    assert serve.max_body == DEFAULT_MAX_BODY


def test_the_command_lines_choices_are_the_librarys() -> None:
    """Each closed choice has one source, the Literal the library checks against."""
    import argparse
    from typing import get_args

    from mnistcnn._choices import BackendName, LogLevel, Preprocess, ReadMethod, SaveFormat, Split

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    def choices(command: str, option: str) -> tuple[str, ...]:
        action = next(a for a in commands.choices[command]._actions if option in a.option_strings)
        return tuple(action.choices or ())

    assert choices("predict", "--preprocess") == get_args(Preprocess)
    assert choices("predict", "--method") == get_args(ReadMethod)
    assert choices("predict", "--backend") == get_args(BackendName)
    assert choices("evaluate", "--split") == choices("show", "--split") == get_args(Split)
    assert choices("train", "--format") == choices("export", "--format") == get_args(SaveFormat)
    assert choices("serve", "--log-level") == get_args(LogLevel)
