"""Paddle's file naming: one path prefix, one suffix per artefact.

``PREFIX.pdparams`` (dynamic weights, as ``paddle.save``/``paddle.Model.save`` write; a pickle),
``PREFIX.safetensors`` (the same weights as safetensors: raw arrays, nothing executable),
``PREFIX.pdopt`` (optimizer state), ``PREFIX.json`` or legacy ``PREFIX.pdmodel`` plus
``PREFIX.pdiparams`` (static inference model), ``PREFIX.onnx`` (the same network as an ONNX model,
for ONNX Runtime), and our ``PREFIX_meta.json``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ._metadata import META_SUFFIX

DYNAMIC = ".pdparams"
SAFETENSORS = ".safetensors"
WEIGHTS = (SAFETENSORS, DYNAMIC)
"""Dynamic weights files, the safe format first."""
STATIC_PROGRAMS = (".json", ".pdmodel")
STATIC_PARAMS = ".pdiparams"
ONNX = ".onnx"

# Longest first, so that "m.pdiparams.info" is not read as prefix "m.pdiparams".
_SUFFIXES = (
    META_SUFFIX,
    ".pdiparams.info",
    ".pdiparams",
    ".pdparams",
    ".safetensors",
    ".pdopt",
    ".pdmodel",
    ".json",
    ".onnx",
)


def prefix_of(path: str | os.PathLike[str]) -> Path:
    """The path prefix of ``path``, which may be a prefix already or any of the model's files."""
    return split_model_path(path)[0]


def split_model_path(path: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """``path`` as its prefix and the known suffix it ends in (``None`` for a bare prefix)."""
    text = os.fspath(Path(path).expanduser())
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return Path(text[: -len(suffix)]), suffix
    return Path(text), None


def with_suffix(prefix: Path, suffix: str) -> Path:
    return prefix.with_name(prefix.name + suffix)


@dataclass(frozen=True)
class ModelFiles:
    """The model files present at a prefix (``None`` where absent)."""

    prefix: Path
    dynamic: Path | None
    safetensors: Path | None
    program: Path | None
    params: Path | None
    onnx: Path | None
    meta: Path | None

    @classmethod
    def find(cls, prefix: Path) -> ModelFiles:
        def existing(suffix: str) -> Path | None:
            candidate = with_suffix(prefix, suffix)
            return candidate if candidate.is_file() else None

        programs = [p for p in (existing(s) for s in STATIC_PROGRAMS) if p is not None]
        return cls(
            prefix=prefix,
            dynamic=existing(DYNAMIC),
            safetensors=existing(SAFETENSORS),
            program=programs[0] if programs else None,
            params=existing(STATIC_PARAMS),
            onnx=existing(ONNX),
            meta=existing(META_SUFFIX),
        )

    @property
    def has_static(self) -> bool:
        return self.program is not None and self.params is not None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
