"""``.. mnistcnn-cli::``: the command-line reference, rendered from the real argument parser."""

from __future__ import annotations

import argparse
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from mnistcnn._cli._main import build_parser


class CliReference(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        parser = build_parser()
        parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=90)
        result: list[nodes.Node] = [nodes.literal_block(text=parser.format_help())]
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, sub in subparsers.choices.items():
            section = nodes.section(ids=[f"mnistcnn-{name}"])
            section += nodes.title(text=f"mnistcnn {name}")
            sub.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=90)
            section += nodes.literal_block(text=sub.format_help())
            result.append(section)
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("mnistcnn-cli", CliReference)
    return {"parallel_read_safe": True}
