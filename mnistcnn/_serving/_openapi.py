"""The OpenAPI 3.1 description of ``mnistcnn serve``'s HTTP API, served at ``/openapi.json``.

Generated: the schemas come from the declarations in :mod:`mnistcnn._serving._schemas` (by
msgspec), and the operations from the table below, so the document cannot drift from what the
server reads and sends. The tests check every answer they receive against it.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import msgspec

from ._body_limit import describe_size
from ._schemas import (
    ANSWERS,
    QUERIES,
    Error,
    Health,
    ImagesBody,
    Predictions,
    PredictQuery,
    Reading,
    ReadQuery,
)

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{name}"


@dataclass(frozen=True)
class _Operation:
    path: str
    method: str
    name: str
    summary: str
    answer: Any  # a declaration of _schemas, or a media type with no schema
    answered: str
    query: type[msgspec.Struct] | None = None
    pictures: str = ""  # "many", "one" or "" (no body)


_OPERATIONS = (
    _Operation(
        "/healthz",
        "get",
        "health",
        "Whether the server is up, and which model and engine answer",
        Health,
        "the server is ready",
    ),
    _Operation(
        "/v1/predict",
        "post",
        "predict",
        "The digit in each picture",
        Predictions,
        "one prediction per picture, in order",
        query=PredictQuery,
        pictures="many",
    ),
    _Operation(
        "/v1/read",
        "post",
        "read",
        "The number written in one picture, digit by digit with boxes",
        Reading,
        "the digits read, left to right",
        query=ReadQuery,
        pictures="one",
    ),
    _Operation(
        "/",
        "get",
        "page",
        "A page to draw digits or upload photos and see them read",
        "text/html",
        "the page",
    ),
    _Operation(
        "/openapi.json", "get", "openapi", "This description", "application/json", "OpenAPI 3.1"
    ),
)

_ERRORS = {
    "400": "an unreadable picture, bad base64, no picture, too many, or a bad query parameter",
    "413": "the body is over the server's limit (--max-body)",
    "415": "a Content-Type that carries no pictures",
    "422": 'JSON that is malformed or not {"images": [...]}',
    "default": "any other error (404 for an unknown path, 405 for a method the path does not "
    "take, 500 for a failure of the server's own)",
}


def openapi_document(*, version: str, max_body: int) -> dict[str, Any]:
    """The API's description, for mnistcnn ``version`` and a body limit of ``max_body``."""
    schemas = _schemas()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mnistcnn",
            "version": version,
            "summary": "Handwritten digit recognition",
            "description": "Recognise handwritten digits and read whole numbers. Request "
            f"bodies are limited to {describe_size(max_body)}. Every error is "
            'JSON {"error": {"type": ..., "message": ...}}.',
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": {op.path: {op.method: _operation(op, schemas["queries"])} for op in _OPERATIONS},
        "components": {"schemas": schemas["components"]},
    }


@functools.cache
def _schemas_once() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [*ANSWERS, ImagesBody, *QUERIES], ref_template=_REF
    )
    queries = {query.__name__: components.pop(query.__name__) for query in QUERIES}
    named = {_public_name(name): schema for name, schema in components.items()}
    for name, schema in named.items():
        schema["title"] = name
        _tidy(schema, close=name != ImagesBody.__name__)
    return {"components": named, "queries": queries}


def _schemas() -> dict[str, Any]:
    return copy.deepcopy(_schemas_once())


def _public_name(name: str) -> str:
    """The library's ``ReadingDict`` is the API's ``Reading``."""
    return name.removesuffix("Dict")


def _tidy(node: Any, *, close: bool) -> None:
    """What the declarations cannot say in msgspec's terms, by rule: the names of the
    library's row types without "Dict", every answer object closed to other keys, and every
    ``probability`` (and ``probabilities`` item) from 0 to 1."""
    if isinstance(node, list):
        for item in node:
            _tidy(item, close=close)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("$ref"), str):
        node["$ref"] = _public_name(node["$ref"])
    properties = node.get("properties")
    if isinstance(properties, dict):
        if close:
            node.setdefault("additionalProperties", False)
        if "probability" in properties:
            properties["probability"].update(minimum=0, maximum=1)
        if "probabilities" in properties:
            properties["probabilities"]["items"].update(minimum=0, maximum=1)
    for value in node.values():
        _tidy(value, close=close)


def _operation(op: _Operation, queries: dict[str, Any]) -> dict[str, Any]:
    media = op.answer if isinstance(op.answer, str) else "application/json"
    content = {} if isinstance(op.answer, str) else {"schema": _ref(op.answer)}
    operation: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "responses": {"200": {"description": op.answered, "content": {media: content}}},
    }
    if op.query is not None:
        operation["parameters"] = _parameters(queries[op.query.__name__])
    if op.pictures:
        operation["requestBody"] = _pictures_body(many=op.pictures == "many")
        operation["responses"].update({status: _error(status) for status in _ERRORS})
    else:
        operation["responses"]["default"] = _error("default")
    return operation


def _ref(declaration: Any) -> dict[str, str]:
    return {"$ref": _REF.format(name=_public_name(declaration.__name__))}


def _parameters(query: dict[str, Any]) -> list[dict[str, Any]]:
    """A query declaration's fields as OpenAPI parameters."""
    parameters = []
    for name, schema in query["properties"].items():
        schema = dict(schema)
        description = schema.pop("description", "")
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": name in query.get("required", ()),
                "schema": schema,
                "description": description,
            }
        )
    return parameters


def _error(status: str) -> dict[str, Any]:
    return {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": _ref(Error)}},
    }


def _pictures_body(*, many: bool) -> dict[str, Any]:
    file: dict[str, Any] = {"type": "string", "contentMediaType": "application/octet-stream"}
    return {
        "required": True,
        "description": (
            "Pictures in any of three forms: file fields named 'file' in a multipart form, a "
            'JSON object {"images": [...]} of base64 strings or data URLs, or one picture as '
            "the raw body with an image/* Content-Type. PNG, JPEG, BMP, GIF, TIFF, WebP, PPM, "
            "ICO, PCX and TGA are read; any size up to 64 million pixels, any polarity. "
            + ("Up to 256 pictures." if many else "One picture.")
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "array", "items": file} if many else file},
                }
            },
            "application/json": {"schema": _ref(ImagesBody)},
            "image/*": {"schema": {"type": "string", "contentMediaType": "image/*"}},
        },
    }
