"""Refusing request bodies over the limit (``--max-body``) before they are read in full."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimit", "describe_size"]

_DRAIN_BYTES = 64 * 1024**2  # read at most this much of a refused body, for at most
_DRAIN_SECONDS = 5.0  # this long, before answering 413
_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


def describe_size(size: int) -> str:
    """A number of bytes, and the same in MiB or KiB when it is that large.

    Examples:
        >>> describe_size(10 * 1024**2), describe_size(1536), describe_size(100)
        ('10,485,760 bytes (10 MiB)', '1,536 bytes (1.5 KiB)', '100 bytes')
    """
    for unit, scale in (("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size:,} bytes ({size / scale:.4g} {unit})"
    return f"{size:,} bytes"


class BodyLimit:
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
                    raise TooLargeError()
            return message

        async def watched_send(message: _Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except TooLargeError:
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
                    f"{describe_size(self.max_body)}; send smaller pictures or fewer at once.",
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


class TooLargeError(Exception):
    """A body grew past the limit while it was read."""
