"""SigV4 checks of requests as aiohttp hands them over: the handshake, ``@connections`` and
the control plane read the same parts of a request for :func:`wsgate.security.sigv4.verify`."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from wsgate.security.credentials import Credentials, CredentialStore
from wsgate.security.sigv4 import SERVICE, verify

__all__ = ["verify_request"]


def verify_request(
    request: web.BaseRequest,
    body: bytes,
    store: CredentialStore,
    region: str,
    service: str = SERVICE,
) -> Credentials:
    """Who signed ``request`` for ``service`` in ``region``, from its raw target as received.

    Raises:
        SignatureError: AWS's 403 answer for a missing, malformed, stale or wrong signature.
    """
    return verify(
        request.method,
        request.raw_path,
        request.headers,
        body,
        store,
        region,
        datetime.now(UTC),
        service=service,
    )
