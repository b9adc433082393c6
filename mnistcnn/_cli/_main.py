"""The ``mnistcnn`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .._errors import ImageNotFoundError, MnistCnnError, ModelNotFoundError
from .._progress import ProgressBar
from .._quiet import quiet_paddle_when_imported
from .._version import __version__

if TYPE_CHECKING:
    from .._data._mnist import MnistDataset, Split
    from .._inference._classifier import DigitClassifier
    from .._inference._results import ResultsFile
    from .._reading._numbers import ReadDigit, Reading


_USER_ERRORS = (OSError, ValueError, TypeError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnistcnn",
        description="Recognise handwritten digits with a convolutional network on PaddlePaddle.",
        epilog="MNIST is read from --data-dir, $MNISTCNN_DATA, or the user cache (downloaded "
        "there if missing). Run 'mnistcnn COMMAND --help' for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"mnistcnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data-dir", metavar="DIR", help="directory holding the MNIST files")
        sub.add_argument(
            "--no-download", action="store_true", help="fail instead of downloading MNIST"
        )

    def model_options(sub: argparse.ArgumentParser, *, positional: bool) -> None:
        help_text = (
            "saved model: path prefix or any of its files (.safetensors, .pdparams, .json, "
            ".pdmodel, .onnx); "
            "default: the pretrained model shipped with mnistcnn"
        )
        if positional:
            sub.add_argument("model", nargs="?", metavar="MODEL", help=help_text)
        else:
            sub.add_argument("--model", metavar="MODEL", help=help_text)
        sub.add_argument(
            "--backend",
            choices=("dynamic", "static", "onnxruntime"),
            help="force an engine (default: the fastest there are files and packages for: "
            "onnxruntime, then static, then dynamic)",
        )

    train = commands.add_parser(
        "train",
        help="train a network, evaluate it on the test set and save it",
        description="Train on the MNIST training set, report test accuracy, save the model.",
    )
    train.add_argument(
        "--recipe",
        default="tutorial",
        help="tutorial (default: the tutorial's network and schedule), fast, best, or reader "
        "(the whole-number reader, trained on numbers composed from the training digits)",
    )
    train.add_argument("--model", default=None, help="architecture (default: the recipe's)")
    train.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    train.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    train.add_argument("--learning-rate", type=float, default=None, help="default: the recipe's")
    train.add_argument("--seed", type=int, default=None, help="make the run reproducible")
    train.add_argument(
        "--procs",
        type=int,
        default=1,
        metavar="N",
        help="train data-parallel in N processes (gloo; 2 is fastest on a 2-core machine)",
    )
    nodes = train.add_argument_group(
        "several machines",
        "Train as one job on N machines: run the same command on each, with its own "
        "--node-rank. Paddle's launcher (gloo) runs --procs processes on each machine.",
    )
    nodes.add_argument("--nnodes", type=int, metavar="N", help="machines in the job")
    nodes.add_argument("--node-rank", type=int, metavar="R", help="this machine's place: 0 to N-1")
    nodes.add_argument(
        "--master",
        metavar="HOST:PORT",
        help="where the machines meet: an address of node 0 and a free port on it",
    )
    nodes.add_argument(
        "--join-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="give up if not every machine has joined after this long (default: 300)",
    )
    nodes.add_argument(
        "--log-dir",
        metavar="DIR",
        help="keep the launcher's and each process's log in DIR (default: a temporary "
        "directory, kept and named if the run fails)",
    )
    train.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="write a checkpoint to DIR after every epoch; run again with the same DIR to "
        "resume where an interrupted run stopped (the same settings are required)",
    )
    train.add_argument(
        "--output", "-o", default="mnist_cnn_model", help="path prefix (default: mnist_cnn_model)"
    )
    train.add_argument(
        "--format",
        choices=("dynamic", "static", "both", "safetensors"),
        default="both",
        help="default: both (.pdparams and the static model); safetensors: the weights in "
        "the format that is safe to share",
    )
    train.add_argument(
        "--replace",
        action="store_true",
        help="remove another model's files at --output in formats this run does not write "
        "(without it, such files stop the save)",
    )
    train.add_argument(
        "--limit", type=int, default=None, metavar="N", help="train on the first N images only"
    )
    train.add_argument(
        "--validate",
        action="store_true",
        help="also measure test accuracy after every epoch, as the tutorial's fit(eval_data=...) "
        "does (about 2 s per epoch; recorded with the model for its training curves)",
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    data_options(train)

    evaluate = commands.add_parser(
        "evaluate", help="measure a saved model on MNIST", description="Evaluate a saved model."
    )
    model_options(evaluate, positional=True)
    evaluate.add_argument("--split", choices=("test", "train"), default="test")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    data_options(evaluate)

    predict = commands.add_parser(
        "predict",
        help="recognise the digit (or the number) in image files",
        description="Print the recognised digit and its probability for each picture (a "
        "photo, a scan, a drawing; any size). With --digits, read a whole number such as a "
        "postal code. Directory trees and file lists of any size stream a batch at a time; "
        "with --output, one row per file goes to a CSV or JSON Lines file as it is read, "
        "and running the same command again skips the files already there. A file that "
        "cannot be read is reported (an error row) and the others still processed; the exit "
        "status is then 1.",
    )
    predict.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files, directories (walked with their subdirectories), or glob patterns",
    )
    predict.add_argument(
        "--files-from",
        metavar="LIST",
        help="also read the paths in LIST, one per line ('-': standard input)",
    )
    predict.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write one row per file to FILE (.csv or .jsonl) as it goes; if FILE exists, "
        "append to it and skip the files it already has a row for (it is never overwritten)",
    )
    predict.add_argument(
        "--batch-size", type=int, default=64, metavar="N", help="files per network call (64)"
    )
    predict.add_argument(
        "--quiet", "-q", action="store_true", help="with --output: no progress bar or summary"
    )
    model_options(predict, positional=False)
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
    predict.add_argument(
        "--digits", action="store_true", help="read every digit of a number, left to right"
    )
    predict.add_argument(
        "--min-confidence",
        type=float,
        default=0.5,
        metavar="P",
        help="with --digits: report a digit read with less than P as unsure (default: 0.5)",
    )
    predict.add_argument(
        "--method",
        choices=("auto", "segments", "sequence"),
        default="auto",
        help="with --digits: auto (default: the classifier for separate digits, the sequence "
        "reader where digits touch), segments, or sequence",
    )
    predict.add_argument(
        "--preprocess",
        choices=("auto", "normalize", "raw"),
        default="auto",
        help="auto (default): normalise pictures to MNIST's form unless already MNIST-like",
    )
    predict.add_argument(
        "--show",
        metavar="DIR",
        help="save the 28x28 image the model sees for each file in DIR (as NAME_28x28.png); "
        "with --digits, the picture with the printed boxes and digits found (NAME_read.png)",
    )

    export = commands.add_parser(
        "export",
        help="convert a model to other formats (a static inference model by default)",
        description="Write the model's network in the formats asked for: PREFIX.json + "
        "PREFIX.pdiparams (static), PREFIX.onnx (ONNX, for ONNX Runtime), PREFIX.safetensors, "
        "PREFIX.pdparams (dynamic), with metadata. From weights every format can be written; "
        "from a static model only static and onnx.",
    )
    export.add_argument(
        "model",
        metavar="MODEL",
        help="the model: its prefix or any of its files (.safetensors, .pdparams, .json, .onnx)",
    )
    export.add_argument("--output", "-o", required=True, help="path prefix of the new files")
    export.add_argument(
        "--format",
        action="append",
        choices=("static", "onnx", "safetensors", "dynamic", "both"),
        help="a format to write; repeat for several (default: static)",
    )
    export.add_argument("--architecture", help="architecture of a .pdparams saved without metadata")
    export.add_argument(
        "--replace",
        action="store_true",
        help="remove another model's files at --output in formats not written (the model's own "
        "files, exported beside themselves, always stay)",
    )

    show = commands.add_parser(
        "show",
        help="write a PNG grid of MNIST digits with their labels",
        description="Draw sample digits with labels (and a model's predictions) to a PNG.",
    )
    show.add_argument("--split", choices=("train", "test"), default="train")
    show.add_argument("--count", type=int, default=32, help="digits to draw (default: 32)")
    show.add_argument("--start", type=int, default=0, help="index of the first digit")
    show.add_argument("--output", "-o", default="digits.png", help="default: digits.png")
    show.add_argument(
        "--predict", action="store_true", help="caption each digit with the model's prediction"
    )
    model_options(show, positional=False)
    data_options(show)

    serve = commands.add_parser(
        "serve",
        help="an HTTP API and a draw-a-digit page (the serve extra)",
        description="Serve the model over HTTP: a page to draw digits or upload photos at /, "
        "the JSON API at /v1/predict and /v1/read, its description at /openapi.json. Stops "
        'cleanly on Ctrl+C or SIGTERM. Needs: pip install "mnistcnn[serve]".',
    )
    model_options(serve, positional=False)
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every "
        "network, with no authentication)",
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="TCP port (default: 8000; 0 picks a free one)"
    )
    serve.add_argument(
        "--max-body",
        type=_byte_size,
        default="10MB",
        metavar="SIZE",
        help="largest request body, e.g. 10MB, 512kB or a number of bytes (default: 10MB)",
    )
    serve.add_argument(
        "--batch-window",
        type=float,
        default=2.0,
        metavar="MS",
        help="longest wait, in milliseconds, for concurrent requests to share a batch "
        "(default: 2; 0 batches only requests that are already waiting)",
    )
    serve.add_argument(
        "--max-batch",
        type=int,
        default=64,
        metavar="N",
        help="most pictures the network runs at once (default: 64; 1 turns batching off)",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from ORIGIN (https://app.example.com, or * for any) call the API "
        "from a browser (CORS); repeat for several (default: none, only the server's own page)",
    )
    serve.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for the network (default: all)"
    )
    serve.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="server messages to show (default: info, one line per request)",
    )
    return parser


_SIZE = re.compile(r"(\d+(?:\.\d*)?)\s*([kmg]?)(i?b)?", re.IGNORECASE)
_SIZE_SCALE = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _byte_size(text: str) -> int:
    """A size such as ``10MB``, ``512kB``, ``2MiB`` or plain bytes, for argparse.

    k, M and G count in 1024s, as people mean them for upload limits: 10MB accepts a 10 MiB
    body.
    """
    match = _SIZE.fullmatch(text.strip())
    size = int(float(match.group(1)) * _SIZE_SCALE[match.group(2).lower()]) if match else 0
    if size < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; write e.g. 10MB, 512kB or 1048576."
        )
    return size


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_paddle_when_imported()  # imported when a command needs it, without its noise
    _show_library_messages()
    try:
        handler = {
            "train": _train,
            "evaluate": _evaluate,
            "predict": _predict,
            "export": _export,
            "show": _show,
            "serve": _serve,
        }[args.command]
        return handler(args)
    except (MnistCnnError, *_USER_ERRORS) as exc:
        message = str(exc).replace("\n", "\n  ")
        print(f"mnistcnn {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mnistcnn: interrupted", file=sys.stderr)
        return 130


def _show_library_messages() -> None:
    """The library's own messages (such as "resuming from a checkpoint") as plain lines."""
    library_logger = logging.getLogger("mnistcnn")
    if any(handler.get_name() == "mnistcnn-cli" for handler in library_logger.handlers):
        return  # main() called again in the same process
    messages = logging.StreamHandler(sys.stderr)
    messages.set_name("mnistcnn-cli")
    messages.setFormatter(logging.Formatter("mnistcnn: %(message)s"))
    library_logger.addHandler(messages)
    library_logger.setLevel(logging.INFO)
    library_logger.propagate = False


def _load_split(args: argparse.Namespace, split: Split) -> MnistDataset:
    from .._data._mnist import load_data

    return load_data(
        split,
        root=args.data_dir,
        download=not args.no_download,
        progress=sys.stderr.isatty(),
    )


def _load_model(args: argparse.Namespace) -> DigitClassifier:
    from .._inference._classifier import DigitClassifier

    if args.model is None:
        return DigitClassifier.pretrained(backend=args.backend)
    return DigitClassifier.load(args.model, backend=args.backend)


def _train(args: argparse.Namespace) -> int:
    from .._data._mnist import MnistDataset
    from .._formats._saving import save
    from .._inference._evaluation import evaluate
    from .._models._architectures import build_model, reads_lines
    from .._training._loop import evaluate_lines
    from .._training._recipes import get_recipe
    from .._training._train import train

    started = time.perf_counter()
    recipe = get_recipe(args.recipe)  # an unknown name fails here, before any data is read
    if args.nnodes is not None or args.node_rank is not None or args.master is not None:
        return _train_on_nodes(args)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1; got {args.limit}.")
    network = build_model(args.model or recipe.architecture, seed=args.seed)
    train_set = _load_split(args, "train")
    data = train_set
    if args.limit is not None:
        data = MnistDataset(train_set.images[: args.limit], train_set.labels[: args.limit])
    test_set = _load_split(args, "test")
    history = train(
        network,
        data,
        val=test_set if args.validate else None,
        recipe=recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        procs=args.procs,
        checkpoint_dir=args.checkpoint_dir,
        progress=not args.quiet,
    )
    if history.world_size > 1 and args.procs == 1:
        import paddle.distributed as dist

        if dist.get_rank() != 0:  # under paddle.distributed.launch: the first process reports
            return 0
    if reads_lines(network):  # numbers composed from the test digits, read exactly
        accuracy, loss = evaluate_lines(network, test_set.images, test_set.labels)
        measured = "test numbers read exactly"
    else:
        report = evaluate(network, test_set)
        accuracy, loss = report.accuracy, report.loss
        measured = "test accuracy"
    paths = save(
        network,
        args.output,
        format=args.format,
        accuracy=accuracy,
        history=history,
        replace=args.replace,
    )
    plan = history.recipe
    print(
        f"{measured} {accuracy:.4f} ({accuracy:.2%}), loss {loss:.4f}; "
        f"recipe {plan.name}, {plan.epochs} epoch(s) on {history.world_size} process(es): "
        f"training {history.seconds:.1f} s, total {time.perf_counter() - started:.1f} s"
    )
    print("saved " + ", ".join(str(p) for p in paths))
    return 0


def _train_on_nodes(args: argparse.Namespace) -> int:
    """``train`` on several machines: Paddle's launcher runs this command's training
    options in --procs processes here, which join those of the other machines."""
    from .._scale._launch import NodeSetup, launch

    missing = [
        option
        for option, value in (("--nnodes", args.nnodes), ("--node-rank", args.node_rank),
                              ("--master", args.master))
        if value is None
    ]  # fmt: skip
    if missing:
        raise ValueError(
            f"training on several machines needs --nnodes, --node-rank and --master; "
            f"{' and '.join(missing)} missing."
        )
    setup = NodeSetup(
        nnodes=args.nnodes,
        node_rank=args.node_rank,
        master=args.master,
        procs=args.procs,
        join_timeout=args.join_timeout,
    )
    options: list[str] = ["--recipe", args.recipe, "--output", args.output, "--format", args.format]
    if args.replace:
        options.append("--replace")
    for flag, value in (
        ("--model", args.model),
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
        ("--learning-rate", args.learning_rate),
        ("--seed", args.seed),
        ("--checkpoint-dir", args.checkpoint_dir),
        ("--limit", args.limit),
        ("--data-dir", args.data_dir),
    ):
        if value is not None:
            options += [flag, str(value)]
    options += [flag for flag, on in (("--validate", args.validate), ("--quiet", args.quiet),
                                      ("--no-download", args.no_download)) if on]  # fmt: skip
    launch(setup, options, log_dir=None if args.log_dir is None else Path(args.log_dir))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .._inference._evaluation import evaluate

    classifier = _load_model(args)
    report = evaluate(classifier, _load_split(args, args.split))
    if args.json:
        print(
            json.dumps(
                {
                    "accuracy": report.accuracy,
                    "loss": report.loss,
                    "n_samples": report.n_samples,
                    "confusion_matrix": report.confusion_matrix.tolist(),
                }
            )
        )
    else:
        print(report)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .._inference._results import ResultsFile
    from .._inference._streaming import find_images, read_file_list

    if not args.images and args.files_from is None:
        raise ValueError("name the pictures: IMAGE arguments, --files-from LIST, or both.")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1; got {args.batch_size}.")
    results = (
        ResultsFile(args.output, kind="number" if args.digits else "digit") if args.output else None
    )
    classifier = _load_model(args)
    show = Path(args.show) if args.show else None
    if show is not None:
        show.mkdir(parents=True, exist_ok=True)
    walk_errors: list[tuple[str, str]] = []

    def unreadable_folder(folder: str, exc: OSError) -> None:
        walk_errors.append((folder, f"{folder}: cannot list this directory ({exc.strerror})"))

    def sources(on_error: Callable[[str, OSError], None] = unreadable_folder) -> Iterator[str]:
        for name in args.images:
            try:
                yield from find_images(name, on_error=on_error)
            except ImageNotFoundError:
                yield name  # reported as that file's error, after the files before it
        if args.files_from is not None:
            with _open_list(args.files_from) as listing:
                yield from read_file_list(listing)

    progress = results is not None and not args.quiet
    bar = ProgressBar(None, desc="predict", enabled=progress, unit="files")
    if progress and args.files_from != "-":
        _count_in_background(sources, bar, skip=results.done if results else None)
    tally = _Tally(before=results.failed_before if results else 0)
    todo = (name for name in sources() if results is None or not results.done(name))
    rows = (
        _read_numbers(classifier, todo, args)
        if args.digits
        else _classify_files(classifier, todo, args)
    )
    try:
        for row, line, view in rows:
            while walk_errors:
                folder, message = walk_errors.pop(0)
                _emit({"file": folder, "error": message}, message, results, args, tally)
            if show is not None and view is not None:
                _save_view(show, row["file"], view)
            _emit(row, line, results, args, tally)
            bar.update()
        for folder, message in walk_errors:
            _emit({"file": folder, "error": message}, message, results, args, tally)
        bar.total = bar.count  # all done: the count may still be running
    finally:
        bar.close()
        if results is not None:
            results.close()
    if results is not None and not args.quiet:
        print(tally.summary(results), file=sys.stderr)
    return 1 if tally.failed or tally.before else 0


class _Tally:
    """What a predict run did, for its summary and exit status."""

    def __init__(self, *, before: int) -> None:
        self.read = self.failed = 0
        self.before = before

    def summary(self, results: ResultsFile) -> str:
        line = f"mnistcnn predict: {self.read:,} files read, {self.failed:,} failed"
        if results.resumed:
            line += f"; {results.resumed:,} skipped, already in {results.path}" + (
                f" ({self.before:,} of them failed)" if self.before else ""
            )
        return line + f"; results in {results.path}"


def _emit(
    row: dict[str, Any],
    line: str,
    results: ResultsFile | None,
    args: argparse.Namespace,
    tally: _Tally,
) -> None:
    failed = "error" in row
    tally.failed += failed
    tally.read += not failed
    if results is not None:
        results.write(row)
        if failed and args.quiet:
            print(f"mnistcnn predict: error: {row['error']}", file=sys.stderr)
        return
    if failed:
        if args.json:
            print(json.dumps(row), flush=True)
        print(f"mnistcnn predict: error: {row['error']}", file=sys.stderr)
        return
    print(json.dumps(row) if args.json else line, flush=True)


def _classify_files(
    classifier: DigitClassifier, names: Iterator[str], args: argparse.Namespace
) -> Iterator[tuple[dict[str, Any], str, np.ndarray | Reading | None]]:
    for result in classifier.predict_files(
        names, batch_size=args.batch_size, preprocess=args.preprocess
    ):
        if not result.ok:
            yield {"file": result.file, "error": result.error}, "", None
            continue
        assert result.probabilities is not None  # set whenever ok
        row = {
            "file": result.file,
            "label": result.label,
            "probability": round(float(result.probability or 0.0), 6),
            "probabilities": [round(float(p), 6) for p in result.probabilities],
        }
        line = f"{result.file}: {result.label} (p={result.probability:.3f})"
        yield row, line, result.model_input


def _read_numbers(
    classifier: DigitClassifier, names: Iterator[str], args: argparse.Namespace
) -> Iterator[tuple[dict[str, Any], str, np.ndarray | Reading | None]]:
    from .._inference._streaming import file_error

    for name in names:
        try:
            reading = classifier.read_digits(
                name, min_confidence=args.min_confidence, method=args.method
            )
        except (MnistCnnError, *_USER_ERRORS) as exc:
            yield {"file": name, "error": file_error(name, exc)}, "", None
            continue
        row, line = _reading_report(name, reading)
        yield row, line, reading


def _save_view(folder: Path, name: str, view: np.ndarray | Reading) -> None:
    """What ``--show`` saves: the 28x28 input the model saw, or the number read, drawn."""
    from PIL import Image

    if isinstance(view, np.ndarray):
        target = folder / f"{Path(name).stem}_28x28.png"
        picture = Image.fromarray(view).resize((224, 224), Image.Resampling.NEAREST)
    else:
        from .._reading._overlay import draw_reading

        target = folder / f"{Path(name).stem}_read.png"
        picture = draw_reading(name, view)
    tmp = target.with_name(f".{target.name}.tmp")
    picture.save(tmp, format="PNG")
    os.replace(tmp, target)


@contextlib.contextmanager
def _open_list(name: str) -> Iterator[TextIO]:
    """A file list, or standard input for ``-``."""
    if name == "-":
        yield sys.stdin
        return
    with open(name, encoding="utf-8", errors="surrogateescape") as listing:
        yield listing


def _count_in_background(
    sources: Callable[[Callable[[str, OSError], None]], Iterator[str]],
    bar: ProgressBar,
    *,
    skip: Callable[[str], bool] | None,
) -> None:
    """Count the files to do in a thread of its own, and give the progress bar its total
    when done: the files stream meanwhile, and a tree of millions is counted in seconds."""

    def count() -> None:
        # Errors are the run's to report: the count skips unreadable folders, and gives up
        # (the bar then has no total) on anything else.
        with contextlib.suppress(OSError, ValueError):
            names = sources(lambda folder, exc: None)
            bar.total = sum(1 for name in names if skip is None or not skip(name))

    threading.Thread(target=count, name="mnistcnn-count", daemon=True).start()


def _reading_report(name: str, reading: Reading) -> tuple[dict[str, object], str]:
    """The JSON row and the line of text for one number read."""

    def digit(d: ReadDigit) -> dict[str, object]:
        return {
            "label": d.label,
            "probability": round(d.probability, 6),
            "box": list(d.box),
            "confident": d.confident,
        }

    row: dict[str, object] = {
        "file": name,
        "text": reading.text,
        "probability": round(reading.probability, 6),
        "confident": reading.confident,
        "digits": [digit(d) for d in reading.digits],
        "boxes": [
            {"box": list(b.box), "digit": None if b.digit is None else digit(b.digit)}
            for b in reading.boxes
        ],
    }
    details = [f"p={reading.probability:.3f}", f"{len(reading.digits)} digits"]
    if reading.boxes:
        empty = sum(b.digit is None for b in reading.boxes)
        found = f"in {len(reading.boxes)} printed boxes"
        details[-1] += f" {found}" + (f", {empty} empty" if empty else "")
    unsure = [str(i + 1) for i, d in enumerate(reading.digits) if not d.confident]
    if unsure:
        details.append(f"unsure: digit {', '.join(unsure)}")
    return row, f"{name}: {reading.text} ({'; '.join(details)})"


def _export(args: argparse.Namespace) -> int:
    from .._formats._files import split_model_path
    from .._formats._metadata import META_SUFFIX
    from .._formats._saving import save
    from .._inference._classifier import DigitClassifier

    formats = args.format or ["static"]
    if split_model_path(args.model)[1] not in (None, META_SUFFIX):  # that file, or an error
        classifier = DigitClassifier.load(args.model, architecture=args.architecture)
    else:
        try:  # the network itself when there are weights: every format can be written from it
            classifier = DigitClassifier.load(
                args.model, backend="dynamic", architecture=args.architecture
            )
        except ModelNotFoundError:
            only_onnx = set(formats) == {"onnx"}  # then an .onnx may be copied as it is
            classifier = DigitClassifier.load(args.model, backend=None if only_onnx else "static")
    paths = save(classifier, args.output, format=formats, replace=args.replace)
    print("saved " + ", ".join(str(p) for p in paths))
    return 0


def _show(args: argparse.Namespace) -> int:
    from .._plotting._drawing import digit_grid

    if args.count < 1:
        raise ValueError(f"--count must be at least 1; got {args.count}.")
    data = _load_split(args, args.split)
    images = data.images[args.start : args.start + args.count]
    labels = data.labels[args.start : args.start + args.count]
    if len(images) == 0:
        raise ValueError(f"--start {args.start} is past the end of the {args.split} split.")
    predictions = _load_model(args).predict(images) if args.predict or args.model else None
    output = Path(args.output)
    tmp = output.with_name(f".{output.name}.tmp")
    digit_grid(images, labels, predictions=predictions).save(tmp, format="PNG")
    os.replace(tmp, output)
    print(f"wrote {output} ({len(images)} digits from the {args.split} split)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .._inference._classifier import DigitClassifier
    from .._serving._app import require_serve_extra, serve

    require_serve_extra()  # before the model is loaded, which takes seconds
    import paddle  # noqa: F401  # here, in the main thread, not in a request's thread (reading needs it)

    if args.batch_window < 0:
        raise ValueError(f"--batch-window must be at least 0 ms; got {args.batch_window}.")
    if args.max_batch < 1:
        raise ValueError(f"--max-batch must be at least 1; got {args.max_batch}.")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be from 0 to 65535; got {args.port}.")
    if args.model is None:
        classifier = DigitClassifier.pretrained(backend=args.backend, num_threads=args.threads)
    else:
        classifier = DigitClassifier.load(
            args.model, backend=args.backend, num_threads=args.threads
        )

    def ready(url: str) -> None:
        print(
            f"mnistcnn serve: {url} ({classifier.metadata.architecture} model on "
            f"{classifier.backend}); Ctrl+C to stop",
            flush=True,
        )
        if not _loopback(args.host):
            print(
                f"mnistcnn serve: listening on {args.host}, reachable from other machines, "
                "with no authentication; put it behind a proxy that has some.",
                file=sys.stderr,
                flush=True,
            )

    serve(
        classifier,
        host=args.host,
        port=args.port,
        max_body=args.max_body,
        batch_window=args.batch_window / 1000,
        max_batch=args.max_batch,
        allow_origins=args.allow_origin,
        log_level=args.log_level,
        ready=ready,
    )
    print("mnistcnn serve: stopped", flush=True)
    return 0


def _loopback(host: str) -> bool:
    """Whether ``host`` is an address of this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
