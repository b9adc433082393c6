"""Sphinx configuration: furo, MyST Markdown, autodoc + napoleon (Google style), intersphinx."""

from __future__ import annotations

import socket
import sys
import urllib.parse
from pathlib import Path

import mnistcnn

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "mnistcnn"
author = "The mnistcnn developers"
copyright = "2026, the mnistcnn developers"
release = version = mnistcnn.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    "sphinx_autodoc_typehints",
    "cli_reference",
    "figures",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/*.md"]
html_theme = "furo"
html_title = f"mnistcnn {release}"

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
typehints_fully_qualified = False
always_document_param_types = False

_INVENTORIES = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "PIL": ("https://pillow.readthedocs.io/en/stable", None),
}


def _reachable(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


# Offline builds (CI, air-gapped machines) cannot fetch the inventories; their links then stay
# plain text instead of failing a build that treats warnings as errors.
intersphinx_mapping = {k: v for k, v in _INVENTORIES.items() if _reachable(v[0])}
intersphinx_timeout = 5
nitpicky = False

# `sphinx-build -b doctest` runs the examples in the docstrings (autodoc puts them in the pages)
# and the {doctest} blocks of the pages, with the public namespace imported as a user would.
doctest_global_setup = "from mnistcnn import *"
doctest_test_doctest_blocks = "default"
