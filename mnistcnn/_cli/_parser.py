"""The ``mnistcnn`` command line's arguments: one function per command.

Every closed choice is read from the ``Literal`` the library checks against, never spelled here:
the library and the command line cannot drift apart. Nothing here imports Paddle, so that
``mnistcnn --help`` answers at once.
"""

from __future__ import annotations

import argparse
import re
from typing import get_args

from .._choices import BackendName, LogLevel, Preprocess, ReadMethod, SaveFormat, Split
from .._version import __version__

__all__ = ["build_parser", "byte_size"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``mnistcnn``, with a subparser per command."""
    parser = argparse.ArgumentParser(
        prog="mnistcnn",
        description="Recognise handwritten digits with a convolutional network on PaddlePaddle.",
        epilog="MNIST is read from --data-dir, $MNISTCNN_DATA, or the user cache (downloaded "
        "there if missing). Run 'mnistcnn COMMAND --help' for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"mnistcnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_evaluate, _add_predict, _add_export, _add_show, _add_serve):
        add(commands)
    return parser


def _data_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--data-dir", metavar="DIR", help="directory holding the MNIST files")
    sub.add_argument("--no-download", action="store_true", help="fail instead of downloading MNIST")


def _model_options(sub: argparse.ArgumentParser, *, positional: bool) -> None:
    help_text = (
        "saved model: path prefix or any of its files (.safetensors, .pdparams, .json, "
        ".pdmodel, .onnx); default: the pretrained model shipped with mnistcnn"
    )
    if positional:
        sub.add_argument("model", nargs="?", metavar="MODEL", help=help_text)
    else:
        sub.add_argument("--model", metavar="MODEL", help=help_text)
    sub.add_argument(
        "--backend",
        choices=get_args(BackendName),
        help="force an engine (default: the fastest there are files and packages for: "
        "onnxruntime, then static, then dynamic)",
    )


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _node_options(train)
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
        choices=get_args(SaveFormat),
        default="both",
        help="default: both (.pdparams and the static model); safetensors: the weights in "
        "the format that is safe to share; onnx: for ONNX Runtime (the onnx extra)",
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
    _data_options(train)


def _node_options(train: argparse.ArgumentParser) -> None:
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


def _add_evaluate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="measure a saved model on MNIST", description="Evaluate a saved model."
    )
    _model_options(evaluate, positional=True)
    evaluate.add_argument("--split", choices=get_args(Split), default="test")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    _data_options(evaluate)


def _add_predict(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    predict = commands.add_parser(
        "predict",
        help="recognise the digit (or the number) in image files",
        description="Print the recognised digit and its probability for each picture (a "
        "photo, a scan, a drawing; any size). With --digits, read a whole number such as a "
        "postal code. Directory trees and file lists of any size stream a batch at a time; "
        "with --output, one row per file goes to a CSV or JSON Lines file as it is read, "
        "and running the same command again skips the files already there. A file that "
        "cannot be read is reported (an error row) and the others still processed; the exit "
        "status is then 1, as it is when no picture is found.",
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
    _model_options(predict, positional=False)
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
        choices=get_args(ReadMethod),
        default="auto",
        help="with --digits: auto (default: the classifier for separate digits, the sequence "
        "reader where digits touch), segments, or sequence",
    )
    predict.add_argument(
        "--preprocess",
        choices=get_args(Preprocess),
        default="auto",
        help="auto (default): normalise pictures to MNIST's form unless already MNIST-like",
    )
    predict.add_argument(
        "--show",
        metavar="DIR",
        help="save the 28x28 image the model sees for each file in DIR (as NAME_28x28.png); "
        "with --digits, the picture with the printed boxes and digits found (NAME_read.png)",
    )


def _add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        choices=get_args(SaveFormat),
        help="a format to write; repeat for several (default: static)",
    )
    export.add_argument("--architecture", help="architecture of a .pdparams saved without metadata")
    export.add_argument(
        "--replace",
        action="store_true",
        help="remove another model's files at --output in formats not written (the model's own "
        "files, exported beside themselves, always stay)",
    )


def _add_show(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = commands.add_parser(
        "show",
        help="write a PNG grid of MNIST digits with their labels",
        description="Draw sample digits with labels (and a model's predictions) to a PNG.",
    )
    show.add_argument("--split", choices=get_args(Split), default="train")
    show.add_argument("--count", type=int, default=32, help="digits to draw (default: 32)")
    show.add_argument("--start", type=int, default=0, help="index of the first digit")
    show.add_argument("--output", "-o", default="digits.png", help="default: digits.png")
    show.add_argument(
        "--predict", action="store_true", help="caption each digit with the model's prediction"
    )
    _model_options(show, positional=False)
    _data_options(show)


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="an HTTP API and a draw-a-digit page (the serve extra)",
        description="Serve the model over HTTP: a page to draw digits or upload photos at /, "
        "the JSON API at /v1/predict and /v1/read, its description at /openapi.json. Stops "
        'cleanly on Ctrl+C or SIGTERM. Needs: pip install "mnistcnn[serve]".',
    )
    _model_options(serve, positional=False)
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
        type=byte_size,
        default="10MiB",
        metavar="SIZE",
        help="largest request body: bytes, or with a unit, 512KiB, 10MiB (1024s) or 5MB "
        "(1000s) (default: 10MiB)",
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
        choices=get_args(LogLevel),
        default="info",
        help="server messages to show, on stderr (default: info, one line per request)",
    )


_SIZE = re.compile(r"(\d+(?:\.\d*)?)\s*(?:([kmg])(i?b?))?", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3}


def byte_size(text: str) -> int:
    """A size for argparse: bytes, or a number with a unit.

    KiB, MiB, GiB (and K, M, G alone, as nginx reads them) count in 1024s; kB, MB, GB in
    1000s, as the SI units they are: ``10MiB`` is 10,485,760 bytes and ``10MB`` 10,000,000.

    Examples:
        >>> byte_size("10MiB"), byte_size("10M"), byte_size("10MB"), byte_size("512")
        (10485760, 10485760, 10000000, 512)
    """
    match = _SIZE.fullmatch(text.strip())
    size = 0
    if match:
        number, prefix, rest = match.groups()
        base = 1000 if rest and rest.lower() == "b" else 1024
        size = int(float(number) * base ** _POWERS[prefix.lower()] if prefix else float(number))
    if size < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; write e.g. 10MiB, 512KiB or 1048576 (bytes)."
        )
    return size
