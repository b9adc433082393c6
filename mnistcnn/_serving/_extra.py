"""Whether the ``serve`` extra is installed: checked before anything imports it."""

from __future__ import annotations

import importlib.util

from .._errors import MissingDependencyError

__all__ = ["SERVE_EXTRA", "require_serve_extra"]

SERVE_EXTRA = 'pip install "mnistcnn[serve]"'

_PACKAGES = (
    ("starlette", "starlette"),
    ("uvicorn", "uvicorn"),
    ("python-multipart", "python_multipart"),
    ("msgspec", "msgspec"),
)
"""The extra's distributions and the module each is imported as."""


def require_serve_extra() -> None:
    """Check that the ``serve`` extra is installed.

    Raises:
        MissingDependencyError: Starlette, uvicorn, python-multipart or msgspec is missing.
    """
    missing = [package for package, module in _PACKAGES if not _importable(module)]
    if missing:
        raise MissingDependencyError(
            f"mnistcnn serve needs {', '.join(missing)}, not installed: {SERVE_EXTRA}."
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules (tests do)
        return False
