"""The HTTP edge: read timeouts, body limits and a last line of defence, all in the JSON format.

* :class:`GuardedH11Protocol` (and :class:`GuardedHttpToolsProtocol` when ``httptools`` is
  installed) is uvicorn's HTTP protocol plus a **header timeout**: a connection must deliver a
  complete request head within ``header_timeout_s`` of connecting or of its first byte, else it
  gets a 408 and is closed (uvicorn alone keeps a client that sends one byte a second forever).
  Malformed requests get the JSON 400 instead of uvicorn's plain text.
* :class:`RequestGuard` (pure ASGI) refuses a ``Content-Length`` above ``max_body_bytes`` with
  a JSON 413 before reading anything, stops a streamed body at the limit (413), stops a body
  that takes longer than ``body_timeout_s`` (408), and turns any exception that escaped the
  app into a JSON 500 (storage faults into their 507/503) *without* closing the connection,
  counting each fault in ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from synerec.service.faults import classify

__all__ = ["GuardedH11Protocol", "RequestGuard", "error_body", "protocol_class"]

log = logging.getLogger(__name__)

#: Key of the lifespan state under which the app hands its fault counter to the protocol.
FAULT_COUNTER_KEY = "synerec_count_fault"


def error_body(kind: str, message: str, fields: list[str] | None = None) -> bytes:
    """The JSON error format as bytes."""
    body: dict[str, Any] = {"error": kind, "message": message}
    if fields:
        body["fields"] = fields
    return json.dumps(body).encode()


def _raw_response(status: int, reason: str, kind: str, message: str) -> bytes:
    body = error_body(kind, message)
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class _HeaderTimeoutMixin:
    """Adds the header timeout and JSON 400s to a uvicorn HTTP protocol class."""

    cycle: Any
    transport: Any
    loop: Any
    config: Any
    app_state: dict[str, Any]

    def _hdr_arm(self) -> None:
        if getattr(self, "_hdr_timer", None) is None:
            timeout = float(getattr(self.config, "header_timeout_s", 10.0))
            self._hdr_timer = self.loop.call_later(timeout, self._hdr_expired)

    def _hdr_disarm(self) -> None:
        timer = getattr(self, "_hdr_timer", None)
        if timer is not None:
            timer.cancel()
            self._hdr_timer = None

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _hdr_expired(self) -> None:
        self._hdr_timer = None
        if self.transport.is_closing() or not self._between_requests():
            return
        timeout = float(getattr(self.config, "header_timeout_s", 10.0))
        self.transport.write(_raw_response(
            408, "Request Timeout", "timeout",
            f"the request head was not received within {timeout:g} s"))
        self.transport.close()
        count = self.app_state.get(FAULT_COUNTER_KEY)
        if count is not None:
            count("timeout")

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._hdr_timer = None
        self._hdr_arm()  # the first request's head must come in time too

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not None and self.cycle is not before:
            self._hdr_disarm()  # a complete head: the app has the request
        elif self._between_requests() and not self.transport.is_closing():
            self._hdr_arm()  # part of a head: it must be complete in time

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._between_requests():
            self._hdr_disarm()  # idle now: uvicorn's keep-alive timeout applies

    def connection_lost(self, exc: Exception | None) -> None:
        self._hdr_disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        self._hdr_disarm()
        if not self.transport.is_closing():
            self.transport.write(_raw_response(400, "Bad Request", "bad_request",
                                               "malformed HTTP request"))
            self.transport.close()


class GuardedH11Protocol(_HeaderTimeoutMixin, H11Protocol):
    """uvicorn's h11 protocol with a header timeout (``config.header_timeout_s``)."""


try:  # pragma: no cover - depends on what is installed
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(_HeaderTimeoutMixin, HttpToolsProtocol):
        """uvicorn's httptools protocol with a header timeout."""

    _BEST: type = GuardedHttpToolsProtocol
    __all__ += ["GuardedHttpToolsProtocol"]
except ImportError:  # httptools not installed
    _BEST = GuardedH11Protocol


def protocol_class() -> str:
    """Import string of the fastest guarded protocol available (for ``uvicorn.Config.http``)."""
    return f"{__name__}:{_BEST.__name__}"


class RequestGuard:
    """Body size and time limits and the JSON last-resort error handler (pure ASGI).

    Parameters
    ----------
    app
        The wrapped ASGI app.
    max_body_bytes
        Larger bodies get 413 (declared: before reading; streamed: at the limit).
    body_timeout_s
        A body not complete this long after the request started gets 408.
    count_fault
        Called with the fault kind of every fault answered here.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float,
                 count_fault: Callable[[str], None]) -> None:
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.body_timeout_s = float(body_timeout_s)
        self.count_fault = count_fault

    async def _send_error(self, send: Send, status: int, kind: str, message: str,
                          close: bool = False, retry_after: int | None = None) -> None:
        body = error_body(kind, message)
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                break
        if declared is not None and (declared < 0 or declared > self.max_body_bytes):
            if declared < 0:
                await self._send_error(send, 400, "bad_request",
                                       "Content-Length is not a non-negative integer", True)
                return
            self.count_fault("body_too_large")
            await self._send_error(send, 413, "body_too_large",
                                   f"request body of {declared} bytes is larger than the "
                                   f"limit of {self.max_body_bytes} bytes", close=True)
            return

        deadline = time.monotonic() + self.body_timeout_s
        received = 0
        body_done = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()
            remaining = deadline - time.monotonic()
            try:
                with anyio.fail_after(max(remaining, 0.001)):
                    message = await receive()
            except TimeoutError:
                self.count_fault("timeout")
                raise StarletteHTTPException(
                    408, f"the request body was not received within {self.body_timeout_s:g} s",
                    headers={"Connection": "close"}) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    self.count_fault("body_too_large")
                    raise StarletteHTTPException(
                        413, f"request body is larger than the limit of {self.max_body_bytes} "
                             "bytes", headers={"Connection": "close"})
                if not message.get("more_body", False):
                    body_done = True
            else:
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # half a response is out: only closing the connection is honest
            fault = classify(exc, "the service's storage")
            if fault is not None:
                log.warning("%s %s: %s", scope.get("method"), scope.get("path"), exc)
                self.count_fault(fault.kind)
                await self._send_error(send, fault.status, fault.kind, str(fault),
                                       retry_after=fault.retry_after)
                return
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            self.count_fault("internal_error")
            await self._send_error(send, 500, "internal_error",
                                   "internal error; it was logged on the server")
