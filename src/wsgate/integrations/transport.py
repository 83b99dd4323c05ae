"""Carry a :class:`~wsgate.core.exchange.BackendRequest` to an HTTP backend over the network.

:class:`Transport` is the interface the HTTP and HTTP_PROXY integrations call (spec §3.4,
§3.5); :class:`HttpTransport` implements it with one pooled keep-alive aiohttp client session,
and :class:`~wsgate.integrations.asgi.AsgiTransport` implements it in process. This is the only
module that imports aiohttp's client.

Like API Gateway, the transport does not follow redirects and does not treat any status as an
error: a 3xx, 4xx or 5xx reply is a :class:`~wsgate.core.exchange.BackendReply` like any other.
Only failing to get a usable reply raises, translated from aiohttp's errors at this boundary:

==============================================  ==============================================
aiohttp                                         wsgate
==============================================  ==============================================
total timeout (connect + send + read)           :class:`~wsgate.errors.IntegrationTimeout`
DNS failure, refused, reset, disconnected       :class:`~wsgate.errors.IntegrationUnavailable`
invalid URL, a header that cannot be sent       :class:`~wsgate.errors.IntegrationUnavailable`
malformed HTTP, truncated or undecodable body   :class:`~wsgate.errors.IntegrationBadResponse`
body over ``max_body_bytes``                    :class:`~wsgate.errors.IntegrationBadResponse`
==============================================  ==============================================
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable
from typing import Protocol

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from wsgate.core.exchange import BackendReply, BackendRequest
from wsgate.errors import (
    IntegrationBadResponse,
    IntegrationError,
    IntegrationTimeout,
    IntegrationUnavailable,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpTransport", "NoTransport", "Transport"]

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


# The transport frames the body itself: a stale Content-Length copied from elsewhere would
# desynchronise a pooled keep-alive connection for the next request on it.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})

_SKIPPED_AUTO_HEADERS: CIMultiDict[None] = CIMultiDict(
    (name, None) for name in ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
)

# What aiohttp decodes (http_parser.py); the reply then no longer matches these headers.
_DECODED_ENCODINGS = frozenset({"gzip", "deflate", "br", "zstd"})
_ENCODING_HEADERS = frozenset({"content-encoding", "content-length"})

# A URL made only of visible ASCII is taken as already encoded and sent byte for byte; yarl's
# requoting would otherwise rewrite it (``%2F`` to ``/`` in queries, ``%41`` to ``A``, ``..``).
_ENCODED_URL = re.compile(r"[!-~]+")

# aiohttp warns when asked to clean up closed SSL transports on Pythons where CPython fixed the
# leak (python/cpython#118960, in 3.12.8 and 3.13.1); ask for it only where it is still needed.
_NEEDS_CLEANUP_CLOSED = sys.version_info < (3, 12, 8) or (3, 13, 0) <= sys.version_info < (3, 13, 1)


class _ExactRequest(aiohttp.ClientRequest):
    """A request carrying the caller's headers, adding only Host and the body's framing.

    aiohttp adds User-Agent, Accept, Accept-Encoding and a Content-Type when they are missing; the
    backend should see the request's own headers (API Gateway's User-Agent is the core's, spec
    §3.4). Session-wide ``skip_auto_headers`` would do it, but aiohttp rebuilds and copies header
    sets for it on every request (about 6 µs, 8% of a keep-alive POST); this sets the skip set
    aiohttp consults (``_skip_auto_headers``, read for Content-Type) once. A test checks that no
    such header appears, so an aiohttp upgrade that changes this cannot go unnoticed.
    """

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        self._skip_auto_headers = _SKIPPED_AUTO_HEADERS


_KEEPALIVE_SECONDS = 4.0


class Transport(Protocol):
    """Sends one request to a backend and returns its reply, read in full."""

    async def send(
        self, request: BackendRequest, *, timeout: float, integration: str = "http"
    ) -> BackendReply:
        """Send ``request`` and wait for the whole reply.

        Args:
            request: what to send; ``url`` is absolute.
            timeout: seconds for the whole exchange (connect, send, read).
            integration: the integration's name, carried by the errors.

        Raises:
            IntegrationTimeout: no complete reply within ``timeout``.
            IntegrationUnavailable: the backend could not be reached, or the transport is closed.
            IntegrationBadResponse: the reply was malformed, truncated or too large.
        """

    async def close(self) -> None:
        """Release pooled connections; later sends raise IntegrationUnavailable."""


class NoTransport(Transport):
    """The transport of integrations that shape requests and replies but call no backend
    (MOCK, Lambda custom): nothing is ever sent through it."""

    async def send(
        self, request: BackendRequest, *, timeout: float, integration: str = "http"
    ) -> BackendReply:
        """Never called: the integration has no backend."""
        raise AssertionError(f"integration {integration!r} calls no HTTP backend")

    async def close(self) -> None:
        """Nothing to close."""


class HttpTransport(Transport):
    """HTTP/1.1 to backends over one pooled keep-alive aiohttp session.

    The session is created on first use, inside the running loop. A backend that restarts is
    reached again on the next send: dropped connections leave the pool and new ones are opened.

    Args:
        max_connections: open connections across all backends (0: no limit).
        max_connections_per_host: open connections per host and port (0: no limit).
        max_body_bytes: the largest reply body accepted, after decompression.
    """

    def __init__(
        self,
        *,
        max_connections: int = 256,
        max_connections_per_host: int = 0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._max_connections = max_connections
        self._max_connections_per_host = max_connections_per_host
        self._max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # Integrations use a handful of distinct timeouts; one ClientTimeout each, not one per call.
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def send(
        self, request: BackendRequest, *, timeout: float, integration: str = "http"
    ) -> BackendReply:
        """Send ``request`` and read the reply; see :meth:`Transport.send`."""
        if self._closed:
            raise IntegrationUnavailable(
                integration, f"transport closed; not sent to {_where(request)}"
            )
        if timeout <= 0:
            # aiohttp reads a zero total timeout as "no timeout"; a spent deadline is a timeout.
            raise IntegrationTimeout(integration, f"no time left to call {_where(request)}")
        session = self._session or self._open()
        client_timeout = self._timeouts.get(timeout)
        if client_timeout is None:
            client_timeout = self._timeout(timeout)
        status: int | None = None
        try:
            async with session.request(
                request.method,
                _url(request.url),
                headers=_outgoing_headers(request.headers),
                data=request.body or None,
                allow_redirects=False,
                timeout=client_timeout,
            ) as response:
                status = response.status
                decoded = _is_decoded(response)
                length = response.content_length
                if length is not None and not decoded and length <= self._max_body_bytes:
                    # The parser stops at Content-Length, so reading it all is bounded.
                    body = await response.read()
                else:
                    body = await self._read_bounded(response, decoded, request, integration)
                return BackendReply(status, _reply_headers(response, decoded), body)
        except IntegrationError:
            raise
        except TimeoutError as exc:
            # Before aiohttp's ClientError: ServerTimeoutError is both.
            raise IntegrationTimeout(
                integration, f"no reply from {_where(request)} within {timeout:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise _translate(exc, request, integration, status) from exc
        except ValueError as exc:
            # aiohttp refuses header values with control characters (header injection).
            raise IntegrationUnavailable(
                integration, f"request to {_where(request)} cannot be sent: {exc}"
            ) from exc
        except RuntimeError as exc:
            if not session.closed:
                raise
            # close() ran while this request was starting.
            raise IntegrationUnavailable(
                integration, f"transport closed; not sent to {_where(request)}"
            ) from exc

    async def close(self) -> None:
        """Close the session and its connections; requests in flight fail as unavailable."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=self._max_connections_per_host,
            enable_cleanup_closed=_NEEDS_CLEANUP_CLOSED,
            # Backends often close idle connections after 5 s; dropping ours sooner narrows the
            # window in which a POST meets a connection the backend is closing.
            keepalive_timeout=_KEEPALIVE_SECONDS,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Backends' cookies belong to the clients of the gateway, never to the gateway.
            cookie_jar=aiohttp.DummyCookieJar(),
            request_class=_ExactRequest,
            auto_decompress=True,
            # Backend traffic does not silently follow the gateway's HTTP(S)_PROXY variables.
            trust_env=False,
        )
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        client_timeout = aiohttp.ClientTimeout(total=seconds)
        self._timeouts[seconds] = client_timeout
        return client_timeout

    async def _read_bounded(
        self,
        response: aiohttp.ClientResponse,
        decoded: bool,
        request: BackendRequest,
        integration: str,
    ) -> bytes:
        """Read a body over the limit or of unknown size, failing as soon as it is too large."""
        limit = self._max_body_bytes
        length = response.content_length
        if length is not None and not decoded and _has_body(request, response):
            raise _too_large(request, integration, limit, response.status)
        # Chunked, read-until-close or decompressed: the size is known only while reading.
        chunks: list[bytes] = []
        size = 0
        while chunk := await response.content.readany():
            size += len(chunk)
            if size > limit:
                raise _too_large(request, integration, limit, response.status)
            chunks.append(chunk)
        return b"".join(chunks)


def _has_body(request: BackendRequest, response: aiohttp.ClientResponse) -> bool:
    # A HEAD, 204 or 304 reply states a length but carries no body (RFC 9110 §8.6).
    return request.method.upper() != "HEAD" and response.status not in (204, 304)


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> URL:
    return URL(url, encoded=_ENCODED_URL.fullmatch(url) is not None)


def _outgoing_headers(
    headers: tuple[tuple[str, str], ...],
) -> tuple[tuple[str, str], ...] | list[tuple[str, str]]:
    """The request's headers in order, framing headers left to aiohttp.

    aiohttp merges a name's repeats only when they are spelled alike (``_prepare_headers``
    replaces ``x-a`` with a later ``X-A``), so repeats take their first spelling.
    """
    names = {name.lower() for name, _ in headers}
    if len(names) == len(headers) and names.isdisjoint(_FRAMING_HEADERS):
        return headers  # the common case: nothing to change
    spelling: dict[str, str] = {}
    outgoing: list[tuple[str, str]] = []
    for name, value in headers:
        key = name.lower()
        if key not in _FRAMING_HEADERS:
            outgoing.append((spelling.setdefault(key, name), value))
    return outgoing


def _is_decoded(response: aiohttp.ClientResponse) -> bool:
    encoding = response.headers.get("Content-Encoding")
    return encoding is not None and encoding.strip().lower() in _DECODED_ENCODINGS


def _reply_headers(response: aiohttp.ClientResponse, decoded: bool) -> tuple[tuple[str, str], ...]:
    if not decoded:
        return tuple(response.headers.items())
    # The body was decompressed: its encoding and length headers no longer describe it.
    return tuple(
        (name, value)
        for name, value in response.headers.items()
        if name.lower() not in _ENCODING_HEADERS
    )


def _where(request: BackendRequest) -> str:
    # The query string may carry mapped credentials; error messages end up in logs.
    return f"{request.method} {request.url.partition('?')[0].partition('#')[0]}"


def _too_large(
    request: BackendRequest, integration: str, limit: int, status: int
) -> IntegrationBadResponse:
    return IntegrationBadResponse(
        integration, f"reply body from {_where(request)} exceeds {limit} bytes", status
    )


def _translate(
    exc: aiohttp.ClientError, request: BackendRequest, integration: str, status: int | None
) -> IntegrationError:
    """The most specific wsgate error for one of aiohttp's; the caller chains it."""
    where = _where(request)
    if status is not None and isinstance(exc, aiohttp.ClientConnectionError):
        return IntegrationBadResponse(
            integration, f"connection lost while reading the reply from {where}: {exc!r}", status
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return IntegrationUnavailable(integration, f"cannot resolve the host of {where}: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return IntegrationUnavailable(integration, f"cannot connect for {where}: {exc.os_error}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return IntegrationUnavailable(integration, f"disconnected before replying to {where}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return IntegrationBadResponse(
            integration, f"truncated or undecodable reply body from {where}: {exc}", status
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        # Raised for malformed status lines and headers; exc.status is aiohttp's, not the backend's.
        # aiohttp's parser messages span lines (they point at the offending byte).
        detail = " ".join(str(exc.message).split())
        return IntegrationBadResponse(integration, f"malformed reply from {where}: {detail}")
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return IntegrationUnavailable(integration, f"not a valid http(s) URL: {where}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return IntegrationUnavailable(integration, f"connection failed for {where}: {exc!r}")
    return IntegrationUnavailable(integration, f"request failed for {where}: {exc!r}")
