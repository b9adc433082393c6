"""``mnistcnn serve``: an HTTP API and a draw-a-digit page, on Starlette and uvicorn.

One classifier is loaded once and shared by every request. Pictures are decoded and normalised
in worker threads, one request's pictures at a time; the network runs the pictures of concurrent
requests together (:mod:`mnistcnn._serving._batching`). Every error is a JSON body
``{"error": {"type": ..., "message": ...}}`` with its HTTP status; nothing reaches the client as
a stack trace, and the server stays up.

Starlette, uvicorn and python-multipart are the ``serve`` extra; this module imports them when
the app is created, so that ``import mnistcnn`` never needs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import json
import logging
import math
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ImageError, MissingDependencyError
from .._input._inputs import Preprocess, picture_unit
from .._input._preprocess import IMAGE_SIZE
from .._quiet import quiet_paddle_import
from .._version import __version__
from ._batching import MicroBatcher
from ._openapi import openapi_document
from ._requests import RequestError, pictures_in

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from .._inference._classifier import DigitClassifier
    from .._reading._numbers import Reading

__all__ = ["DEFAULT_MAX_BODY", "SERVE_EXTRA", "create_app", "require_serve_extra", "serve"]

logger = logging.getLogger(__name__)

SERVE_EXTRA = 'pip install "mnistcnn[serve]"'
DEFAULT_MAX_BODY = 10 * 1024**2
"""The largest request body accepted, in bytes (``--max-body``)."""

DEFAULT_MAX_IMAGES = 256
"""The most pictures one ``/v1/predict`` request may carry."""

_DRAIN_BYTES = 64 * 1024**2  # read at most this much of a refused body, for at most
_DRAIN_SECONDS = 5.0  # this long, before answering 413
_PREPROCESS = ("auto", "normalize", "raw")
_METHODS = ("auto", "segments", "sequence")
_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


def create_app(
    classifier: DigitClassifier | None = None,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_images: int = DEFAULT_MAX_IMAGES,
    batch_window: float = 0.002,
    max_batch: int = 64,
    allow_origins: Sequence[str] = (),
) -> Starlette:
    """The ASGI application of ``mnistcnn serve``, to run under any ASGI server or mount in one.

    Args:
        classifier: the model that answers (default: :meth:`DigitClassifier.pretrained`).
        max_body: the largest request body accepted, in bytes; larger ones get 413.
        max_images: the most pictures one ``/v1/predict`` request may carry.
        batch_window: how long, in seconds, a batch waits for pictures of requests that
            arrived at the same time (it never waits when no other request is in flight).
        max_batch: the most pictures the network runs at once.
        allow_origins: web origins (``"https://app.example.com"``, or ``"*"`` for any) whose
            pages may call the API from a browser (CORS); none by default, as browsers then
            allow only the server's own page.

    Returns:
        A :class:`starlette.applications.Starlette` app: ``GET /`` (the page), ``GET
        /healthz``, ``POST /v1/predict``, ``POST /v1/read``, ``GET /openapi.json``.

    Raises:
        MissingDependencyError: the ``serve`` extra is not installed.
        ValueError: a limit below 1, a negative window, or an origin that is not one.
    """
    require_serve_extra()
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    if max_body < 1 or max_images < 1:
        raise ValueError(
            f"max_body and max_images must be at least 1; got {max_body} and {max_images}."
        )
    cors = _cors(allow_origins)
    if classifier is None:
        with quiet_paddle_import():
            from .._inference._classifier import DigitClassifier

        classifier = DigitClassifier.pretrained()
    model = classifier
    page = (resources.files("mnistcnn._serving") / "_web" / "index.html").read_bytes()
    openapi = json.dumps(openapi_document(version=__version__, max_body=max_body)).encode()
    columns = [int(label) for label in model.classes_]

    def compute(units: np.ndarray) -> np.ndarray:
        return model.predict_proba(units, preprocess="raw")

    batcher = MicroBatcher(compute, window=batch_window, max_batch=max_batch)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(_warm_up, model)
        batcher.start()
        yield
        await batcher.stop()

    async def home(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    async def healthz(request: Request) -> Response:
        source = model._source.name if model._source is not None else None
        stats = batcher.stats
        return JSONResponse(
            {
                "status": "ok",
                "model": {
                    "name": source,
                    "architecture": model.metadata.architecture,
                    "accuracy": model.metadata.accuracy,
                    "classes": columns,
                },
                "engine": model.backend,
                "version": __version__,
                "batching": {
                    "batches": stats.batches,
                    "images": stats.images,
                    "mean_size": round(stats.mean_size, 3),
                    "largest": stats.largest,
                },
            }
        )

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    async def predict(request: Request) -> Response:
        preprocess = _choice(request, "preprocess", _PREPROCESS, "auto")
        include = _include(request)
        with batcher.expect():
            pictures = await pictures_in(request, max_images=max_images)
            units = await asyncio.to_thread(_units, pictures, preprocess)
        rows = await batcher.submit(units)
        predictions = []
        for unit, row in zip(units, rows, strict=True):
            best = int(row.argmax())
            answer: dict[str, Any] = {
                "digit": columns[best],
                "probability": float(row[best]),
                "probabilities": [float(value) for value in row],
            }
            if include:
                answer["model_input"] = np.round(unit * 255).astype(np.uint8).tolist()
            predictions.append(answer)
        return JSONResponse({"predictions": predictions})

    async def read(request: Request) -> Response:
        method = _choice(request, "method", _METHODS, "auto")
        min_confidence = _probability(request, "min_confidence", 0.5)
        pictures = await pictures_in(request, max_images=1)
        reading = await asyncio.to_thread(
            model.read_digits, pictures[0], method=method, min_confidence=min_confidence
        )
        return JSONResponse(_reading_json(reading))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kinds = {404: "not_found", 405: "method_not_allowed"}
        message = {
            404: f"no such path: {request.url.path}; see /openapi.json for the API.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, kinds.get(exc.status_code, "http_error"), message)

    async def internal_error(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal_error", "the server failed to answer; see its log.")

    def answers(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` with the errors of a request turned into JSON error answers."""

        @functools.wraps(handler)
        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestError as exc:
                return _error(exc.status, exc.kind, exc.message)
            except ImageError as exc:
                return _error(400, "invalid_image", str(exc))

        return answer

    def _error(status: int, kind: str, message: str) -> Response:
        return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)

    return Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/v1/predict", answers(predict), methods=["POST"]),
            Route("/v1/read", answers(read), methods=["POST"]),
        ],
        middleware=[Middleware(_BodyLimit, max_body=max_body), *cors],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )


def _cors(origins: Sequence[str]) -> list[Any]:
    """Starlette's CORS middleware for ``origins`` (none when there are none)."""
    if not origins:
        return []
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(
                f"allowed origin {origin!r} is not a web origin; write it as "
                "https://host[:port] (or * for any)."
            )
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            max_age=3600,
        )
    ]


def require_serve_extra() -> None:
    """Check that the ``serve`` extra is installed.

    Raises:
        MissingDependencyError: Starlette, uvicorn or python-multipart is missing.
    """
    missing = [
        package
        for package, module in (
            ("starlette", "starlette"),
            ("uvicorn", "uvicorn"),
            ("python-multipart", "python_multipart"),
        )
        if not _importable(module)
    ]
    if missing:
        raise MissingDependencyError(
            f"mnistcnn serve needs {', '.join(missing)}, not installed: {SERVE_EXTRA}."
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules (tests do)
        return False


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


def _reading_json(reading: Reading) -> dict[str, Any]:
    def digit(item: Any) -> dict[str, Any]:
        return {
            "digit": item.label,
            "probability": item.probability,
            "confident": item.confident,
            "box": list(item.box),
        }

    return {
        "text": reading.text,
        "probability": reading.probability,
        "confident": reading.confident,
        "digits": [digit(item) for item in reading.digits],
        "boxes": [
            {"box": list(box.box), "digit": None if box.digit is None else digit(box.digit)}
            for box in reading.boxes
        ],
    }


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> Any:
    value = request.query_params.get(name, default)
    if value not in allowed:
        raise RequestError(
            400,
            "invalid_parameter",
            f"{name}={value!r} is not allowed; use one of {', '.join(allowed)}.",
        )
    return value


def _probability(request: Request, name: str, default: float) -> float:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise RequestError(400, "invalid_parameter", f"{name}={text!r}: give a number from 0 to 1.")
    return value


def _include(request: Request) -> bool:
    include = request.query_params.get("include")
    if include not in (None, "", "model_input"):
        raise RequestError(
            400, "invalid_parameter", f"include={include!r}: the only choice is model_input."
        )
    return include == "model_input"


class _BodyLimit:
    """ASGI middleware refusing bodies over ``max_body`` bytes with 413, before they are read
    in full: by their Content-Length when they declare one, else as they stream in."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._refuse(send, f" of {int(declared):,} bytes")
            return
        received = 0
        started = False

        async def limited_receive() -> _Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLargeError()
            return message

        async def watched_send(message: _Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLargeError:
            if not started:
                await self._drain(receive)
                await self._refuse(send, "")

    async def _drain(self, receive: _Receive) -> None:
        """Read what the client is still sending (within bounds), so that it reads the 413
        rather than a connection reset: a client still writing when the server closes the
        connection loses the answer (the "lingering close" of HTTP servers)."""

        async def drain() -> None:
            drained = 0
            while drained < _DRAIN_BYTES:
                message = await receive()
                drained += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body"):
                    return

        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drain(), _DRAIN_SECONDS)

    async def _refuse(self, send: _Send, size: str) -> None:
        """Answer 413; ``size`` completes "the request body" (" of 12,345 bytes" or "")."""
        body = json.dumps(
            {
                "error": {
                    "type": "body_too_large",
                    "message": f"the request body{size} is over the server's limit of "
                    f"{self.max_body:,} bytes; send smaller pictures or fewer at once.",
                }
            },
            separators=(",", ":"),
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLargeError(Exception):
    """A body grew past the limit while it was read."""


def serve(
    classifier: DigitClassifier | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body: int = DEFAULT_MAX_BODY,
    batch_window: float = 0.002,
    max_batch: int = 64,
    allow_origins: Sequence[str] = (),
    log_level: str = "warning",
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve :func:`create_app` with uvicorn until SIGTERM or SIGINT (Ctrl+C).

    On either signal the server stops accepting connections, finishes the requests in flight
    (30 s at most) and returns normally.

    Args:
        classifier: as for :func:`create_app`.
        host: the address to listen on; ``"0.0.0.0"`` or ``"::"`` to be reachable from
            other machines (there is no authentication: put it behind a proxy that has).
        port: the TCP port; ``0`` picks a free one (``ready`` is told which).
        max_body: as for :func:`create_app`.
        batch_window: as for :func:`create_app`.
        max_batch: as for :func:`create_app` (1 runs every picture on its own).
        allow_origins: as for :func:`create_app`.
        log_level: uvicorn's log level (``"info"`` logs every request).
        ready: called with the server's URL once it listens.

    Raises:
        MissingDependencyError: the ``serve`` extra is not installed.
        OSError: the address cannot be bound (the port in use, say).
    """
    require_serve_extra()
    import uvicorn

    app = create_app(
        classifier,
        max_body=max_body,
        batch_window=batch_window,
        max_batch=max_batch,
        allow_origins=allow_origins,
    )
    listener = _bind(host, port)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=30,
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    url = _url(listener)

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started and ready is not None:
            ready(url)
        await task

    # uvicorn re-raises the signal that stopped it once it is done; with these handlers in
    # place that is a no-op, and the process exits with 0 instead of dying of the signal.
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        asyncio.run(run())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.close()
    if not server.started:
        raise OSError(f"the server on {url} did not start; see the messages above.")


def _ignore(signum: int, frame: object) -> None:
    """A signal handler that does nothing."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections whose listening socket says so. Without it every answer on a kept-alive
    # connection waits 40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc
    listener.setblocking(False)
    return listener


def _url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
