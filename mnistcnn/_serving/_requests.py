"""Pictures out of HTTP requests: multipart uploads, JSON with base64 (or data URLs), raw bodies.

Every way a request can be wrong ends here as a :class:`RequestError` carrying the HTTP status,
a short machine-readable type and a message that says what to send instead; the server turns it
into the JSON error body. Decoding the pictures themselves is left to the library's one input
path (:mod:`mnistcnn._input._inputs`), so a picture sent over HTTP is read exactly as the same bytes
given to :meth:`~mnistcnn.DigitClassifier.predict` are.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING

import msgspec

from ._schemas import ErrorKind, ImagesBody

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["RAW_TYPES", "RequestError", "pictures_in"]

RAW_TYPES = ("image/", "application/octet-stream")
"""Content types (prefixes) taken as one picture sent as the whole body."""

_WHITESPACE = re.compile(rb"\s+")
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[^;,]*)*)(;base64)?,", re.ASCII)


class RequestError(Exception):
    """A request the server cannot answer, and how to say so.

    Attributes:
        status: the HTTP status code (400, 413, 415, 422, ...).
        kind: a short snake_case name of the problem, the ``type`` of the JSON error.
        message: what was wrong and what to do, for people.
    """

    def __init__(self, status: int, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def media_type(request: Request) -> str:
    """The request's content type without its parameters, lower case (``""`` if none)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def pictures_in(request: Request, *, max_images: int) -> list[bytes]:
    """The encoded pictures a request carries, in order.

    Raises:
        RequestError: 415 for a content type that carries no pictures, 422 for JSON that is
            malformed or not ``{"images": [...]}``, 400 for bad base64, a multipart form
            without ``file`` fields, an empty body, or more than ``max_images`` pictures.
    """
    kind = media_type(request)
    if kind == "multipart/form-data":
        pictures = await _multipart(request, max_images)
    elif kind == "application/json" or kind.endswith("+json"):
        pictures = _json_pictures(await request.body())
    elif kind.startswith(RAW_TYPES):
        pictures = [await request.body()]
    else:
        received = f"Content-Type {kind!r}" if kind else "no Content-Type"
        raise RequestError(
            415,
            "unsupported_media_type",
            f"{received}; send pictures as multipart/form-data (fields named 'file'), as JSON "
            '{"images": ["<base64>", ...]}, or as one raw body with an image/* Content-Type.',
        )
    if not pictures:
        raise RequestError(400, "no_image", "the request holds no picture.")
    if len(pictures) > max_images:
        raise RequestError(
            400,
            "too_many_images",
            f"{len(pictures)} pictures in one request; the limit is {max_images}. "
            "Send them in several requests.",
        )
    for index, picture in enumerate(pictures):
        if not picture:
            where = f"picture {index}" if len(pictures) > 1 else "the picture"
            raise RequestError(400, "no_image", f"{where} is empty (0 bytes).")
    return pictures


async def _multipart(request: Request, max_images: int) -> list[bytes]:
    from starlette.exceptions import HTTPException
    from starlette.formparsers import MultiPartException

    try:
        form = await request.form(max_files=max_images, max_fields=100)
    except (HTTPException, MultiPartException) as exc:  # Starlette raises the first since 0.40
        detail = str(getattr(exc, "detail", None) or getattr(exc, "message", exc))
        if detail.startswith("Too many files"):
            raise RequestError(
                400,
                "too_many_images",
                f"more than {max_images} files in one request; send them in several requests.",
            ) from exc
        raise RequestError(
            400, "bad_multipart", f"the multipart form is malformed: {detail}"
        ) from exc
    try:
        files = form.getlist("file")
        if not files:
            fields = ", ".join(sorted(set(form.keys()))) or "none"
            raise RequestError(
                400,
                "no_image",
                f"no form field named 'file' (fields received: {fields}); send each picture "
                "as a file field named 'file'.",
            )
        pictures = []
        for item in files:
            if isinstance(item, str):
                raise RequestError(
                    400,
                    "no_image",
                    "the 'file' field holds text, not a file; send it as a file upload "
                    "(curl -F file=@digit.png).",
                )
            pictures.append(await item.read())
        return pictures
    finally:
        await form.close()


def _json_pictures(body: bytes) -> list[bytes]:
    try:
        document = msgspec.json.decode(body, type=ImagesBody)
    except msgspec.DecodeError as exc:
        raise RequestError(422, "invalid_json", f"the body is not valid JSON ({exc}).") from exc
    except msgspec.ValidationError as exc:
        raise RequestError(
            422,
            "invalid_json",
            f'{exc}; expected a JSON object {{"images": ["<base64>", ...]}}: a list of base64 '
            "strings or data URLs.",
        ) from exc
    return [decode_base64(item, f"images[{index}]") for index, item in enumerate(document.images)]


def decode_base64(text: str, label: str) -> bytes:
    """The bytes of a base64 string or a ``data:`` URL (standard or URL-safe alphabet, line
    breaks allowed).

    Raises:
        RequestError: 400 ``invalid_base64``, naming ``label``.
    """
    match = _DATA_URL.match(text)
    if match:
        if not match.group(3):
            raise RequestError(
                400,
                "invalid_base64",
                f"{label} is a data URL without ';base64'; send the picture base64-encoded.",
            )
        text = text[match.end() :]
    try:
        data = _WHITESPACE.sub(b"", text.encode("ascii"))
        if b"-" in data or b"_" in data:
            data = data.replace(b"-", b"+").replace(b"_", b"/")
        return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise RequestError(400, "invalid_base64", f"{label} is not valid base64 ({exc}).") from exc
