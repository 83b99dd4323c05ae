"""Who may use the admin listener: the names it answers to, the origins it obeys, its token.

The admin listener shows every connection and every message, and can post to and close them.
Three checks keep it its operator's:

- **Host.** A request must name the listener by a loopback name, its own address, or a name in
  ``server.adminHosts``. A web page that rebinds its own DNS name to 127.0.0.1 sends its own
  name, and is refused (421, as for a request that reached the wrong server).
- **Origin.** A request that changes something (POST, PUT, PATCH, DELETE) from a browser must
  come from the listener's own origin: a page elsewhere cannot make the operator's browser act.
- **Token.** When the listener is not on loopback, or ``@connections`` needs signatures
  (``managementAuthorization: AWS_IAM``), every request but the health check must carry the
  admin token (``security/local.py``): ``Authorization: Bearer TOKEN``, or the cookie the
  dashboard's ``?token=`` link sets. ``@connections`` calls may instead be SigV4-signed.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from typing import Final

from aiohttp import web

__all__ = ["COOKIE", "HEALTH_PATH", "AdminAccess"]

HEALTH_PATH: Final = "/_wsgate/health"
COOKIE: Final = "wsgate-admin-token"
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_CHANGES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AdminAccess:
    """The admin listener's checks (see the module docstring).

    Args:
        host: the address the listener is bound to (``server.adminHost``).
        hosts: other names it answers to (``server.adminHosts``).
        token: the admin token.
        require_token: whether requests must carry it.
    """

    def __init__(self, *, host: str, hosts: Iterable[str], token: str, require_token: bool) -> None:
        self._names = _LOOPBACK_NAMES | {name.lower() for name in [host, *hosts]}
        self._token = token.encode()
        self.require_token = require_token

    def refusal(self, request: web.BaseRequest) -> web.Response | None:
        """Why the request may not go on (a response to send), or None."""
        host = request.headers.get("Host")
        # No browser omits Host; a client without one (a load balancer's check) cannot be a
        # rebound page.
        if host is not None and not self._known(_host_name(host), request):
            message = f"this listener does not answer to the name {host!r} (see server.adminHosts)"
            return _refuse(421, message)
        if request.method in _CHANGES and self._foreign(request, host):
            return _refuse(403, "requests that change something must come from this listener")
        return None

    def carries_token(self, request: web.BaseRequest) -> bool:
        """True when the request shows the admin token (header or cookie)."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self._matches(value.strip()):
            return True
        return self._matches(request.cookies.get(COOKIE, ""))

    def token_refusal(self) -> web.Response:
        """The answer to a request that needed the token and had none."""
        response = _refuse(
            401,
            "the admin listener needs its token: open the dashboard link the gateway printed, "
            "or send 'Authorization: Bearer TOKEN' (TOKEN is in ~/.wsgate/admin-token, or "
            "$WSGATE_HOME/admin-token)",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="wsgate admin"'
        return response

    def login(self, request: web.BaseRequest, page: str) -> web.Response | None:
        """Answer ``page?token=…``: set the cookie and drop the token from the address."""
        given = request.query.get("token")
        if given is None:
            return None
        if not self._matches(given):
            return self.token_refusal()
        response = web.Response(status=303, headers={"Location": page, "Cache-Control": "no-store"})
        response.set_cookie(COOKIE, given, httponly=True, samesite="Strict", path="/")
        return response

    def _matches(self, value: str) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self._token)

    def _known(self, name: str, request: web.BaseRequest) -> bool:
        if name in self._names:
            return True
        # The address the request actually arrived on, written as a literal: not a rebound
        # DNS name, which is what the check is for.
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if not sockname or not _is_ip(name):
            return False
        return bool(ipaddress.ip_address(name) == ipaddress.ip_address(sockname[0]))

    @staticmethod
    def _foreign(request: web.BaseRequest, host: str | None) -> bool:
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return True
        origin = request.headers.get("Origin")
        if origin is None:
            return False  # not sent by a browser, or a same-origin GET-like navigation
        return host is None or origin.lower() not in (f"http://{host.lower()}",)


def _host_name(host: str) -> str:
    """The name in a Host header, without its port or brackets, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)
