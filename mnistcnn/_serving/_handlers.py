"""What answers each route of ``mnistcnn serve``, and how errors become JSON answers.

One :class:`Api` holds the model, the micro-batcher and the served documents; its methods are
the routes. Every answer body is a declaration of :mod:`mnistcnn._serving._schemas`, and every
failure an :class:`~mnistcnn._serving._schemas.Error` with its HTTP status.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .._choices import Preprocess
from .._errors import ImageError
from .._inference._streaming import predict_dict
from .._input._inputs import picture_unit
from .._input._preprocess import IMAGE_SIZE
from .._version import __version__
from ._batching import MicroBatcher
from ._openapi import openapi_document
from ._requests import RequestError, pictures_in
from ._schemas import (
    Batching,
    Error,
    ErrorDetail,
    ErrorKind,
    Health,
    ModelInfo,
    Predictions,
    PredictQuery,
    QueryError,
    ReadQuery,
    encode,
    parse_query,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

    from .._inference._classifier import DigitClassifier

__all__ = ["Api", "http_error", "internal_error"]

logger = logging.getLogger(__name__)

_Handler = Callable[["Request"], Awaitable[Response]]


class Api:
    """The routes of the API over one model.

    Args:
        model: the classifier that answers.
        max_body: the body limit, as the OpenAPI document states it.
        max_images: the most pictures one ``/v1/predict`` request may carry.
        batcher: runs the pictures of concurrent requests through the network together.
    """

    def __init__(
        self, model: DigitClassifier, *, max_body: int, max_images: int, batcher: MicroBatcher
    ) -> None:
        self.model = model
        self.max_images = max_images
        self.batcher = batcher
        self.page = (resources.files("mnistcnn._serving") / "_web" / "index.html").read_bytes()
        self.openapi = encode(openapi_document(version=__version__, max_body=max_body))

    def routes(self) -> list[Route]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
            Route("/v1/predict", _answers(self.predict), methods=["POST"]),
            Route("/v1/read", _answers(self.read), methods=["POST"]),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(_warm_up, self.model)
        self.batcher.start()
        yield
        await self.batcher.stop()

    async def home(self, request: Request) -> Response:
        return HTMLResponse(self.page, headers={"Cache-Control": "no-cache"})

    async def openapi_json(self, request: Request) -> Response:
        return _json(self.openapi)

    async def healthz(self, request: Request) -> Response:
        model, stats = self.model, self.batcher.stats
        health = Health(
            status="ok",
            model=ModelInfo(
                name=model._source.name if model._source is not None else None,
                architecture=model.metadata.architecture,
                accuracy=model.metadata.accuracy,
                classes=[int(label) for label in model.classes_],
            ),
            engine=model.backend,
            version=__version__,
            batching=Batching(
                batches=stats.batches,
                images=stats.images,
                mean_size=round(stats.mean_size, 3),
                largest=stats.largest,
            ),
        )
        return _json(encode(health))

    async def predict(self, request: Request) -> Response:
        query = _query(request, PredictQuery)
        with self.batcher.expect():
            pictures = await pictures_in(request, max_images=self.max_images)
            units = await asyncio.to_thread(_units, pictures, query.preprocess)
        rows = await self.batcher.submit(units)
        predictions = []
        for unit, row in zip(units, rows, strict=True):
            prediction = predict_dict(row, self.model.classes_)
            if query.include == "model_input":
                prediction["model_input"] = np.round(unit * 255).astype(np.uint8).tolist()
            predictions.append(prediction)
        return _json(encode(Predictions(predictions)))

    async def read(self, request: Request) -> Response:
        query = _query(request, ReadQuery)
        pictures = await pictures_in(request, max_images=1)
        reading = await asyncio.to_thread(
            self.model.read_digits,
            pictures[0],
            method=query.method,
            min_confidence=query.min_confidence,
        )
        return _json(encode(reading.to_dict()))


def _answers(handler: _Handler) -> _Handler:
    """``handler`` with the errors of a request turned into JSON error answers."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except RequestError as exc:
            return error_answer(exc.status, exc.kind, exc.message)
        except ImageError as exc:
            return error_answer(400, "invalid_image", str(exc))

    return answer


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such path, a method the path does not take) as JSON."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such path: {request.url.path}; see /openapi.json for the API."
        return error_answer(404, "not_found", message)
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
        return error_answer(405, "method_not_allowed", message)
    return error_answer(exc.status_code, "http_error", str(exc.detail))


async def internal_error(request: Request, exc: Exception) -> Response:
    """A failure of the server's own: logged with its traceback, answered without it."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_answer(500, "internal_error", "the server failed to answer; see its log.")


def error_answer(status: int, kind: ErrorKind, message: str) -> Response:
    return _json(encode(Error(ErrorDetail(kind, message))), status=status)


def _json(body: bytes, *, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


_Query = TypeVar("_Query", PredictQuery, ReadQuery)


def _query(request: Request, shape: type[_Query]) -> _Query:
    try:
        return parse_query(dict(request.query_params), shape)
    except QueryError as exc:
        raise RequestError(400, "invalid_parameter", str(exc)) from exc


def _warm_up(model: DigitClassifier) -> None:
    """Run the network once and load the line reader, so the first requests are not slow."""
    from .._reading._numbers import _line_reader

    model.predict_proba(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.float32), preprocess="raw")
    _line_reader()


def _units(pictures: list[bytes], preprocess: Preprocess) -> np.ndarray:
    """The pictures as the network sees them, (n, 28, 28) float32 in [0, 1]."""
    units = np.empty((len(pictures), IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for index, picture in enumerate(pictures):
        try:
            units[index] = picture_unit(picture, preprocess)
        except ImageError as exc:
            if len(pictures) == 1:
                raise
            raise ImageError(f"picture {index}: {exc}") from exc
    return units
