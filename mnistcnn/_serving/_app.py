"""``mnistcnn serve``: an HTTP API and a draw-a-digit page, on Starlette and uvicorn.

One classifier is loaded once and shared by every request. Pictures are decoded and normalised
in worker threads, one request's pictures at a time; the network runs the pictures of concurrent
requests together (:mod:`mnistcnn._serving._batching`). Every error is a JSON body
``{"error": {"type": ..., "message": ...}}`` with its HTTP status; nothing reaches the client as
a stack trace, and the server stays up. The routes are :mod:`mnistcnn._serving._handlers`, the
shapes of requests and answers :mod:`mnistcnn._serving._schemas`.

Starlette, uvicorn, python-multipart and msgspec are the ``serve`` extra; this module imports
them when the app is created, so that ``import mnistcnn`` never needs them.
"""

from __future__ import annotations

import asyncio
import copy
import signal
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._choices import LogLevel
from .._quiet import quiet_paddle_import
from ._extra import SERVE_EXTRA, require_serve_extra

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .._inference._classifier import DigitClassifier

__all__ = [
    "DEFAULT_MAX_BODY",
    "SERVE_EXTRA",
    "LogLevel",
    "create_app",
    "require_serve_extra",
    "serve",
]

DEFAULT_MAX_BODY = 10 * 1024**2
"""The largest request body accepted, in bytes (``--max-body``): 10 MiB."""

DEFAULT_MAX_IMAGES = 256
"""The most pictures one ``/v1/predict`` request may carry."""

"""uvicorn's log levels, quietest first."""


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

    from ._batching import MicroBatcher
    from ._body_limit import BodyLimit
    from ._handlers import Api, http_error, internal_error

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

    def compute(units: Any) -> Any:
        return model.predict_proba(units, preprocess="raw")

    api = Api(
        model,
        max_body=max_body,
        max_images=max_images,
        batcher=MicroBatcher(compute, window=batch_window, max_batch=max_batch),
    )
    return Starlette(
        routes=api.routes(),
        middleware=[Middleware(BodyLimit, max_body=max_body), *cors],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=api.lifespan,
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


def serve(
    classifier: DigitClassifier | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body: int = DEFAULT_MAX_BODY,
    batch_window: float = 0.002,
    max_batch: int = 64,
    allow_origins: Sequence[str] = (),
    log_level: LogLevel = "warning",
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
        log_config=_log_config(),
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


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with the access log on stderr beside the rest (uvicorn's own
    default sends it to stdout): every server message goes to one stream, and stdout keeps
    only what the command itself says."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


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
