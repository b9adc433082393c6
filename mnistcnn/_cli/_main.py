"""The ``mnistcnn`` command line: a thin layer over the library.

:func:`main` parses the arguments (:mod:`._parser`), runs the command (:mod:`._commands`,
:mod:`._predict`) and turns the library's errors into one line and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from .._errors import MnistCnnError
from .._quiet import quiet_paddle_when_imported
from ._commands import run_evaluate, run_export, run_serve, run_show, run_train
from ._common import USER_ERRORS
from ._parser import build_parser

__all__ = ["build_parser", "main"]


def _run_predict(args: argparse.Namespace) -> int:
    from ._predict import (
        run_predict,  # here: it loads the input path (SciPy), which --help need not
    )

    return run_predict(args)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": run_train,
    "evaluate": run_evaluate,
    "predict": _run_predict,
    "export": run_export,
    "show": run_show,
    "serve": run_serve,
}

_SIGPIPE_STATUS = 128 + 13
"""What a shell reports for a command that a closed pipe stopped (128 + SIGPIPE)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = _parse(parser, argv)
    quiet_paddle_when_imported()  # imported when a command needs it, without its noise
    _show_library_messages()
    try:
        status = _COMMANDS[args.command](args)
        sys.stdout.flush()  # here, where a closed pipe can still be handled
        return status
    except BrokenPipeError:
        _stop_writing_to_stdout()
        return _SIGPIPE_STATUS
    except (MnistCnnError, *USER_ERRORS) as exc:
        message = str(exc).replace("\n", "\n  ")
        print(f"mnistcnn {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mnistcnn: interrupted", file=sys.stderr)
        return 130


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an unknown option is shown with its command's usage, not the top one."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        command: argparse.ArgumentParser = commands.choices[args.command]
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _stop_writing_to_stdout() -> None:
    """The reader of our output went away (``mnistcnn ... | head``): end quietly, as Unix
    tools do. What Python still holds for stdout goes nowhere, so that its flush at exit
    does not print "Broken pipe" either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


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
