"""Carry a :class:`~wsgate.core.exchange.BackendRequest` to an ASGI application in process.

:class:`AsgiTransport` implements :class:`~wsgate.integrations.transport.Transport` without
sockets: the request becomes an ASGI ``http`` scope and one ``http.request`` message, and the
app's ``http.response.*`` messages become the reply. It behaves as the app would behind
uvicorn and :class:`~wsgate.integrations.transport.HttpTransport`:

- the app raising before it starts a response is a 500 with an empty body (the traceback is
  logged); raising after a complete response keeps that response;
- raising mid-body, or returning without a complete response, is
  :class:`~wsgate.errors.IntegrationBadResponse`, as a truncated reply over HTTP would be;
- the ASGI lifespan protocol runs when the app supports it (:meth:`AsgiTransport.start`,
  :meth:`AsgiTransport.close`); apps that do not are served all the same.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit

from wsgate.core.exchange import BackendReply, BackendRequest
from wsgate.errors import IntegrationBadResponse, IntegrationTimeout, IntegrationUnavailable
from wsgate.integrations.transport import DEFAULT_MAX_BODY_BYTES, Transport

__all__ = [
    "ASGI_SCHEME",
    "ASGIApp",
    "AsgiTransport",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "load_app",
    "split_asgi_uri",
]

logger = logging.getLogger(__name__)

# ASGI's own names for its types, as Starlette spells them; messages are free-form mappings.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ASGI_SCHEME = "asgi:"

# The origin of the URL an ASGI integration URI stands for; the app sees it as Host and server.
_ASGI_ORIGIN = "http://localhost"
# 2.4: apps need not listen for http.disconnect while streaming (no extra task per request).
_HTTP_ASGI = {"version": "3.0", "spec_version": "2.4"}
_LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CLIENT = ("127.0.0.1", 0)
# Left as they are when quoting a URL's path and query, so an encoded URL stays the same.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"
# Framing headers are the transport's, as in HttpTransport (aiohttp's rules for Content-Length).
_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_EMPTY: list[bytes] = []


class AsgiTransport(Transport):
    """Serves backend requests with an ASGI 3 application on the running loop.

    Args:
        app: the ASGI application.
        max_body_bytes: the largest reply body accepted.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._app = app
        self._max_body_bytes = max_body_bytes
        # The lifespan scope's "state", copied into every request scope (as uvicorn does).
        self._state: dict[str, Any] = {}
        self._lifespan: _Lifespan | None = None
        self._closed = False

    @classmethod
    def from_uri(
        cls, uri: str, *, code_dir: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> AsgiTransport:
        """Import the app named by ``asgi:package.module:attribute`` and wrap it.

        Args:
            uri: ``asgi:`` then the module, a colon and the attribute (dots reach into it).
            code_dir: put first on ``sys.path`` before importing, when given.
            max_body_bytes: as for the constructor.

        Raises:
            ValueError: the URI is malformed, the module cannot be imported, or the attribute
                is missing or not callable; the message names the URI.
        """
        return cls(load_app(uri, code_dir=code_dir), max_body_bytes=max_body_bytes)

    async def start(self) -> None:
        """Run the app's lifespan startup, if it speaks the lifespan protocol.

        Raises:
            IntegrationUnavailable: the app reported ``lifespan.startup.failed``.
        """
        if self._lifespan is not None or self._closed:
            return
        lifespan = _Lifespan(self._app, self._state)
        answer = await lifespan.exchange("lifespan.startup")
        if answer is None:
            return
        if answer["type"] != "lifespan.startup.complete":
            await lifespan.finish()
            # Starlette sends the whole traceback (logged by _Lifespan); its last line says what.
            lines = str(answer.get("message", "")).strip().splitlines() or ["no reason given"]
            raise IntegrationUnavailable("asgi", f"lifespan startup failed: {lines[-1]}")
        self._lifespan = lifespan

    async def close(self) -> None:
        """Run the lifespan shutdown if startup ran; later sends raise IntegrationUnavailable."""
        self._closed = True
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is None:
            return
        try:
            answer = await lifespan.exchange("lifespan.shutdown")
            if answer is not None and answer["type"] != "lifespan.shutdown.complete":
                logger.error("ASGI lifespan shutdown failed: %s", answer.get("message", ""))
            await lifespan.finish()
        except asyncio.CancelledError:
            # A caller's deadline on a shutdown that hangs: do not leave the app's task behind.
            lifespan.cancel()
            raise

    async def send(
        self, request: BackendRequest, *, timeout: float, integration: str = "asgi"
    ) -> BackendReply:
        """Run the app on ``request``; see :meth:`Transport.send`.

        Raises:
            IntegrationTimeout: the app did not complete its response within ``timeout``.
            IntegrationUnavailable: the transport is closed.
            IntegrationBadResponse: the response was incomplete, malformed or too large.
        """
        if self._closed:
            raise IntegrationUnavailable(
                integration, f"transport closed; not sent to {request.url}"
            )
        if timeout <= 0:
            raise IntegrationTimeout(integration, f"no time left to call {request.url}")
        try:
            scope = self._scope(request)
        except ValueError as exc:
            # A bad port, or a header name that is not latin-1: what HttpTransport cannot send.
            raise IntegrationUnavailable(
                integration, f"request to {request.url} cannot be sent: {exc}"
            ) from exc
        exchange = _Exchange(request.body, self._max_body_bytes)
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                await self._app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            if deadline.expired():
                raise IntegrationTimeout(
                    integration, f"no reply from {request.url} within {timeout:g} s"
                ) from exc
            return exchange.failed(exc, integration, request)
        finally:
            exchange.finish()
        if deadline.expired():
            # The app swallowed the cancellation and returned.
            raise IntegrationTimeout(
                integration, f"no reply from {request.url} within {timeout:g} s"
            )
        return exchange.reply(integration, request)

    def _scope(self, request: BackendRequest) -> Scope:
        url = urlsplit(request.url)
        raw_path = quote(url.path, safe=_URL_SAFE) or "/"
        method = request.method.upper()
        return {
            "type": "http",
            "asgi": _HTTP_ASGI,
            "http_version": "1.1",
            "method": method,
            "scheme": url.scheme,
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("ascii"),
            "query_string": quote(url.query, safe=_URL_SAFE).encode("ascii"),
            "root_path": "",
            "headers": _scope_headers(request, method, url.netloc),
            "client": _CLIENT,
            "server": (url.hostname or "", url.port or _DEFAULT_PORTS.get(url.scheme, 80)),
            "state": self._state.copy(),
        }


class _Exchange:
    """One request's receive and send callables and the response they collect."""

    __slots__ = ("_body", "_chunks", "_complete", "_done", "_headers", "_limit", "_size", "_status")

    def __init__(self, body: bytes, limit: int) -> None:
        self._body: bytes | None = body
        self._limit = limit
        self._headers: list[tuple[bytes, bytes]] | None = None
        self._status: int | None = None
        self._chunks: list[bytes] = _EMPTY
        self._size = 0
        self._complete = False
        self._done: asyncio.Event | None = None

    async def receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        # Past the request, a server reports a disconnect only once the client leaves; here the
        # client is gone when the response is complete (or the app returns).
        if self._done is None:
            self._done = asyncio.Event()
        await self._done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and self._status is None:
            self._status = int(message["status"])
            self._headers = list(message.get("headers", ()))
        elif kind == "http.response.body" and self._status is not None and not self._complete:
            body = message.get("body", b"")
            if body:
                self._size += len(body)
                if self._size > self._limit:
                    raise _BodyTooLarge
                if self._chunks is _EMPTY:
                    self._chunks = []
                self._chunks.append(body)
            if not message.get("more_body", False):
                self._complete = True
                self.finish()
        else:
            # uvicorn's answer to messages out of order; the app sees it raised from send.
            raise RuntimeError(f"unexpected ASGI message {kind!r} in this response state")

    def finish(self) -> None:
        """Release an app waiting in receive() for the disconnect."""
        if self._done is not None:
            self._done.set()

    def reply(self, integration: str, request: BackendRequest) -> BackendReply:
        """The collected response, which must be complete and within the limit."""
        if self._size > self._limit:
            raise self._too_large(integration, request)
        if self._status is None:
            raise IntegrationBadResponse(
                integration, f"ASGI app returned without a response to {request.url}"
            )
        if not self._complete:
            raise IntegrationBadResponse(
                integration,
                f"ASGI app returned before finishing its response to {request.url}",
                self._status,
            )
        headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in self._headers or ()
        )
        return BackendReply(self._status, headers, b"".join(self._chunks))

    def failed(self, exc: Exception, integration: str, request: BackendRequest) -> BackendReply:
        """What an app that raised ``exc`` answered, as a server in front of it would tell."""
        if self._size > self._limit:
            # Whatever the app made of _BodyTooLarge, the reply is over the limit.
            raise self._too_large(integration, request) from exc
        logger.error("Exception in ASGI application", exc_info=exc)
        if self._status is None:
            return BackendReply(500, (), b"")
        if not self._complete:
            raise IntegrationBadResponse(
                integration, f"ASGI app raised while answering {request.url}", self._status
            ) from exc
        return self.reply(integration, request)

    def _too_large(self, integration: str, request: BackendRequest) -> IntegrationBadResponse:
        reason = f"reply body from {request.url} exceeds {self._limit} bytes"
        return IntegrationBadResponse(integration, reason, self._status)


# Not in errors.py's tree: private control flow, turned into IntegrationBadResponse here.
class _BodyTooLarge(Exception):
    """Raised from send() to stop an app whose body passed the limit."""


class _Lifespan:
    """The ASGI lifespan protocol, run in a task of its own for the app's lifetime."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._answered = False
        scope: Scope = {"type": "lifespan", "asgi": _LIFESPAN_ASGI, "state": state}
        self._task = asyncio.create_task(self._run(app, scope), name="asgi-lifespan")

    async def exchange(self, message_type: str) -> Message | None:
        """Send one event and wait for the app's answer; None when the app ended instead."""
        await self._inbox.put({"type": message_type})
        answer = asyncio.ensure_future(self._outbox.get())
        try:
            await asyncio.wait((answer, self._task), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not answer.done():
                answer.cancel()
        return answer.result() if answer.done() and not answer.cancelled() else None

    async def finish(self) -> None:
        """Wait for the app's lifespan call to end."""
        await self._task

    def cancel(self) -> None:
        """Stop the app's lifespan call where it is."""
        self._task.cancel()

    async def _run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self._inbox.get, self._send)
        except Exception:
            if self._answered:
                logger.exception("Exception in ASGI lifespan")
            else:
                # uvicorn's "auto" mode: an app that fails before answering has no lifespan.
                logger.info("ASGI 'lifespan' protocol appears unsupported.")

    async def _send(self, message: Message) -> None:
        self._answered = True
        await self._outbox.put(message)


def split_asgi_uri(uri: str) -> tuple[str, str]:
    """Split ``asgi:package.module:app/path?query`` into the app and the URL to request.

    The app is ``package.module:app``; the URL is absolute, on ``http://localhost``, with the
    path (``/`` when none) and query that follow the app's name.

    Raises:
        ValueError: ``uri`` does not name a module and an attribute after ``asgi:``.
    """
    if not uri.startswith(ASGI_SCHEME):
        raise ValueError(f"{uri!r} is not an ASGI app: expected 'asgi:package.module:attribute'")
    target = uri[len(ASGI_SCHEME) :]
    module_name, _, rest = target.partition(":")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    attribute, tail = rest[:end], rest[end:]
    if not module_name or not attribute:
        raise ValueError(f"{uri!r} is not an ASGI app: expected 'asgi:package.module:attribute'")
    if not tail.startswith("/"):
        tail = "/" + tail
    return f"{module_name}:{attribute}", _ASGI_ORIGIN + tail


def load_app(uri: str, *, code_dir: str | None = None) -> ASGIApp:
    """Import the ASGI app an ``asgi:module:attribute`` URI names; see AsgiTransport.from_uri."""
    module_name, _, attribute = split_asgi_uri(uri)[0].partition(":")
    if code_dir is not None:
        code_dir = os.path.abspath(code_dir)
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        # The finders cache directory listings; modules written since must still be found.
        importlib.invalidate_caches()
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{uri!r}: cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise ValueError(f"{uri!r}: importing module {module_name!r} raised {exc!r}") from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError as exc:
            raise ValueError(
                f"{uri!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from exc
    if not callable(found):
        raise ValueError(
            f"{uri!r}: {module_name}:{attribute} is a {type(found).__name__}, not an ASGI app"
        )
    return cast("ASGIApp", found)


def _scope_headers(request: BackendRequest, method: str, netloc: str) -> list[tuple[bytes, bytes]]:
    # Names lowercase as ASGI requires; values as utf-8 bytes, which is what aiohttp would send.
    headers = [
        (name.lower().encode("latin-1"), value.encode("utf-8", "surrogateescape"))
        for name, value in request.headers
    ]
    names = {name for name, _ in headers}
    if names & _FRAMING_HEADERS:
        headers = [(name, value) for name, value in headers if name not in _FRAMING_HEADERS]
    if b"host" not in names:
        host = netloc.rpartition("@")[2]
        headers.insert(0, (b"host", host.encode("ascii" if host.isascii() else "idna")))
    if request.body or method not in _NO_BODY_METHODS:
        headers.append((b"content-length", str(len(request.body)).encode("ascii")))
    return headers
