"""The shapes of the HTTP API, declared once: what requests may carry and what answers hold.

msgspec reads query strings and JSON bodies into these declarations (refusing what does not
fit), encodes the answers, and generates their JSON Schemas for the OpenAPI document
(:mod:`mnistcnn._serving._openapi`). The answers' rows are the library's own serialisations
(:meth:`Reading.to_dict`, :func:`~mnistcnn._inference._streaming.predict_dict`), typed by
their ``TypedDict``; the closed choices are the library's ``Literal`` types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from .._choices import BackendName, Preprocess, ReadMethod
from .._inference._streaming import PredictionDict
from .._reading._numbers import ReadingDict

__all__ = [
    "ANSWERS",
    "QUERIES",
    "Error",
    "ErrorKind",
    "Health",
    "ImagesBody",
    "PredictQuery",
    "Predictions",
    "QueryError",
    "ReadQuery",
    "Reading",
    "encode",
    "parse_query",
]

ErrorKind = Literal[
    "invalid_image",
    "invalid_base64",
    "no_image",
    "too_many_images",
    "bad_multipart",
    "invalid_parameter",
    "body_too_large",
    "unsupported_media_type",
    "invalid_json",
    "not_found",
    "method_not_allowed",
    "http_error",
    "internal_error",
]
"""What went wrong, for programs: the ``type`` of every error answer."""


class ErrorDetail(Struct, forbid_unknown_fields=True):
    type: ErrorKind
    message: Annotated[str, Meta(description="what went wrong and what to do, for people")]


class Error(Struct, forbid_unknown_fields=True):
    """Every error answer: ``{"error": {"type": ..., "message": ...}}``, with its HTTP status."""

    error: ErrorDetail


class Predictions(Struct, forbid_unknown_fields=True):
    """The answer of ``POST /v1/predict``."""

    predictions: Annotated[
        list[PredictionDict], Meta(description="one per picture, in the order they were sent")
    ]


Reading = ReadingDict
"""The answer of ``POST /v1/read``: :meth:`mnistcnn.Reading.to_dict`."""


class ModelInfo(Struct, forbid_unknown_fields=True):
    name: Annotated[str | None, Meta(description="the model file")]
    architecture: str | None
    accuracy: Annotated[
        float | None, Meta(description="MNIST test accuracy, if measured before saving")
    ]
    classes: Annotated[list[int], Meta(description="the class of each probability, in order")]


class Batching(Struct, forbid_unknown_fields=True):
    """Network calls made so far and their sizes."""

    batches: Annotated[int, Meta(ge=0)]
    images: Annotated[int, Meta(ge=0)]
    mean_size: Annotated[float, Meta(ge=0)]
    largest: Annotated[int, Meta(ge=0)]


class Health(Struct, forbid_unknown_fields=True):
    """The answer of ``GET /healthz``: the server is up, and which model and engine answer."""

    status: Literal["ok"]
    model: ModelInfo
    engine: BackendName
    version: Annotated[str, Meta(description="the mnistcnn version")]
    batching: Batching


class ImagesBody(Struct):
    """The JSON form of a request's pictures."""

    images: Annotated[
        list[str],
        Meta(description="picture files (PNG, JPEG, ...) in base64, or as data: URLs"),
    ]


class PredictQuery(Struct):
    """The query parameters of ``POST /v1/predict``."""

    preprocess: Annotated[
        Preprocess,
        Meta(
            description="auto: pictures already in MNIST's form are taken as they are, others "
            "normalised; normalize: every picture normalised; raw: taken as they are"
        ),
    ] = "auto"
    include: Annotated[
        Literal["", "model_input"],
        Meta(description="model_input: add the 28x28 picture the network saw to each answer"),
    ] = ""


class ReadQuery(Struct):
    """The query parameters of ``POST /v1/read``."""

    method: Annotated[
        ReadMethod,
        Meta(description="how touching digits are read (see DigitClassifier.read_digits)"),
    ] = "auto"
    min_confidence: Annotated[
        float,
        Meta(ge=0, le=1, description="the probability a digit needs to be marked confident"),
    ] = 0.5


ANSWERS: tuple[Any, ...] = (Predictions, Reading, Health, Error)
"""Every answer body the API sends, for the OpenAPI document."""

QUERIES: tuple[type[Struct], ...] = (PredictQuery, ReadQuery)

_Query = TypeVar("_Query", PredictQuery, ReadQuery)


class QueryError(ValueError):
    """A query parameter that is not allowed: ``name`` and what is."""

    def __init__(self, name: str, value: str, allowed: str) -> None:
        super().__init__(f"{name}={value!r} is not allowed; {allowed}.")
        self.name = name


def parse_query(params: dict[str, str], shape: type[_Query]) -> _Query:
    """The query parameters as ``shape`` (others are ignored).

    Raises:
        QueryError: a value its declaration does not allow, naming the values that are.
    """
    try:
        return msgspec.convert(params, shape, strict=False)
    except msgspec.ValidationError as exc:
        name = str(exc).rpartition("$.")[2].rstrip("`")
        field = msgspec.json.schema(shape)["$defs"][shape.__name__]["properties"].get(name, {})
        raise QueryError(name, params.get(name, ""), _allowed(field)) from exc


def _allowed(field: dict[str, Any]) -> str:
    """What a parameter's schema allows, in words."""
    if "enum" in field:
        return "use one of " + ", ".join(repr(v) if v == "" else str(v) for v in field["enum"])
    if "minimum" in field and "maximum" in field:
        return f"give a number from {field['minimum']} to {field['maximum']}"
    return "see /openapi.json"


def encode(answer: object) -> bytes:
    """An answer as JSON bytes."""
    return msgspec.json.encode(answer)
