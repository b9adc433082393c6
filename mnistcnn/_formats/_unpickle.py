"""Reading Paddle's pickled weights (``.pdparams``, ``.pdopt``) without running their code.

``paddle.load`` is ``pickle.load``: a crafted file runs whatever its pickle calls
(``os.system`` included) before anything can check it. A state dict needs none of that: Paddle
writes each tensor as a NumPy array (``numpy._core.multiarray._reconstruct`` applied to
``numpy.ndarray``, a ``numpy.dtype`` and the raw bytes) inside plain dicts, lists and tuples.
So, like PyTorch's ``torch.load(weights_only=True)``, the unpickler here resolves only those
names, checks the arguments each is called with, and refuses everything else before it runs.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ModelFormatError

__all__ = ["read_state", "state_from_bytes"]

_NUMPY_MODULES = ("numpy._core.multiarray", "numpy.core.multiarray")
_MAX_DIMS = 32


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something a weights file never needs (raised before it runs)."""


class _ArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: passed to ``_reconstruct``, never called, so
    a file cannot allocate an array of a shape it chooses."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise _Refused("it calls numpy.ndarray directly, as Paddle never does")


def _reconstruct(subtype: object, shape: object, dtype_code: object) -> np.ndarray:
    # Paddle and NumPy write exactly ``_reconstruct(ndarray, (0,), b'b')``; the array's real
    # shape, dtype and bytes follow in its state, which NumPy checks against each other.
    if subtype is not _ArrayType or shape != (0,) or dtype_code not in (b"b", "b"):
        raise _Refused("an array is rebuilt with arguments Paddle never writes")
    empty: np.ndarray = np.ndarray((0,), dtype=np.int8)
    return empty


def _dtype(spec: object, align: object = False, copy: object = True) -> np.dtype[Any]:
    if not isinstance(spec, str) or not isinstance(align, bool) or not isinstance(copy, bool):
        raise _Refused(f"a dtype is built from {type(spec).__name__}")
    dtype = np.dtype(spec)
    if dtype.hasobject:
        raise _Refused("arrays of Python objects are refused")
    return dtype


def _scalar(dtype: object, data: object) -> np.generic:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise _Refused("a NumPy scalar is built from unexpected arguments")
    value: np.generic = np.frombuffer(data, dtype=dtype, count=1)[0]
    return value


def _latin1_bytes(text: object, encoding: object) -> bytes:
    # Pickle protocols 0-2 write bytes as ``_codecs.encode(text, "latin1")``.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("bytes are encoded in an unexpected way")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    **{(module, "_reconstruct"): _reconstruct for module in _NUMPY_MODULES},
    **{(module, "scalar"): _scalar for module in _NUMPY_MODULES},
    ("numpy", "ndarray"): _ArrayType,
    ("numpy", "dtype"): _dtype,
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1_bytes,
}


class _WeightsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f"it asks for {module}.{name}, which a weights file never needs")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("it holds persistent references")


def read_state(path: Path) -> dict[str, Any]:
    """The state dict in a ``.pdparams`` or ``.pdopt`` file, without running code from it.

    Args:
        path: a file written by ``paddle.save`` (or ``paddle.Model.save``).

    Returns:
        The dict, with every tensor as a NumPy array (plain dicts, lists, tuples, strings and
        numbers around them).

    Raises:
        ModelFormatError: the file is not a pickle of plain data and arrays: damaged, not a
            weights file, or crafted to run code (refused before any of it runs).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot be read ({exc}).") from exc
    return state_from_bytes(data, source=path)


def state_from_bytes(data: bytes, *, source: Path | str) -> dict[str, Any]:
    """:func:`read_state` on the bytes of a file; ``source`` names it in errors."""
    try:
        state = _WeightsUnpickler(io.BytesIO(data)).load()
    except _Refused as exc:
        raise ModelFormatError(
            f"{source}: refused, {exc}: only arrays in plain containers are read from Paddle "
            "weights files, so no code in the file can run. If you trust where the file came "
            "from, rebuild the network and load it with paddle.load yourself; better, ask for "
            "a .safetensors file."
        ) from exc
    except Exception as exc:  # any damage: truncation, bad opcodes, mismatched array bytes
        raise ModelFormatError(f"{source}: not a readable Paddle weights file ({exc!r}).") from exc
    if not isinstance(state, dict):
        raise ModelFormatError(f"{source}: holds a {type(state).__name__}, not a state dict.")
    _check_values(state, source, depth=0)
    state = dict(state)
    # paddle.save adds the parameters' internal names under this key; paddle.load drops it.
    state.pop("StructuredToParameterName@@", None)
    return state


def _check_values(value: object, path: Path | str, *, depth: int) -> None:
    """Only arrays, numbers, strings and containers of them; no absurd nesting."""
    if depth > 16:
        raise ModelFormatError(f"{path}: nested too deeply for a state dict.")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise ModelFormatError(f"{path}: a key of type {type(key).__name__}.")
            _check_values(item, path, depth=depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_values(item, path, depth=depth + 1)
    elif isinstance(value, np.ndarray):
        if value.ndim > _MAX_DIMS or value.dtype.hasobject:
            raise ModelFormatError(f"{path}: an array of dtype {value.dtype} is not weights.")
    elif not isinstance(value, (str, bytes, int, float, bool, np.generic, type(None))):
        raise ModelFormatError(f"{path}: holds a {type(value).__name__}, not weights.")
