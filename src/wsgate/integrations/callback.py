"""How local functions call the gateway back at the addresses AWS would give them.

A handler written for AWS posts to ``https://{apiId}.execute-api.{region}.amazonaws.com/{stage}``
(hard-coded, or built by its template) or to ``https://{domainName}/{stage}`` from its event. The
gateway serves a loopback listener for its functions that speaks TLS, with a certificate for
exactly those names issued by the local CA, and plain HTTP; each function process sends its
connections to those names there:

- Python workers wrap :func:`socket.getaddrinfo` (:func:`install_redirects`, called by the
  worker before it imports the handler), so urllib3, botocore, aiohttp and the standard library
  connect to the listener while TLS still checks the original name;
- Node.js functions load ``runtimes/node/redirect.cjs``, which does the same to ``net`` sockets;
- ``provided`` bootstraps get ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`` only.

The redirects travel in one environment variable (:data:`REDIRECTS_VARIABLE`), a JSON list of
``[host, port, target_port]``. Names not in it, real AWS endpoints included, resolve as usual.
Everything here but :func:`install_redirects` is pure.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "LOOPBACK_NAMES",
    "REDIRECTS_VARIABLE",
    "CallbackPlan",
    "decode_redirects",
    "encode_redirects",
    "execute_api_host",
    "find_redirect",
    "install_redirects",
    "plan_callback",
    "split_host_port",
]

REDIRECTS_VARIABLE: Final = "WSGATE_CALLBACK_REDIRECTS"
# What a client on this machine may call a loopback listener; the certificate names them all.
LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")
_TARGET_HOST: Final = "127.0.0.1"
_HTTPS_PORT: Final = 443
_SERVICE_PORTS: Final = {"https": 443, "http": 80}
_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::"})


@dataclass(frozen=True, slots=True)
class CallbackPlan:
    """Where local functions' calls back to the gateway go, and what its certificate names.

    Attributes:
        names: the DNS names and addresses the functions' listener presents a certificate for.
        redirects: ``(host, port) -> listener port`` for the connections functions make.
        endpoint: the management endpoint named in ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``
            for Python and Node.js functions (their connections to it are redirected).
        direct_endpoint: the same for ``provided`` bootstraps, which are not redirected: the
            listener's own address, in plain HTTP.
    """

    names: tuple[str, ...]
    redirects: Mapping[tuple[str, int], int]
    endpoint: str
    direct_endpoint: str

    def environment(self, family: str, *, ca_bundle: str, extra_ca: str) -> dict[str, str]:
        """The variables a function of ``family`` (python, nodejs, provided) gets."""
        variables = {"AWS_CA_BUNDLE": ca_bundle}
        if family == "provided":
            variables["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"] = self.direct_endpoint
            return variables
        variables["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"] = self.endpoint
        variables[REDIRECTS_VARIABLE] = encode_redirects(self.redirects)
        if family == "nodejs":
            variables["NODE_EXTRA_CA_CERTS"] = extra_ca
        return variables


def execute_api_host(api_id: str, region: str) -> str:
    """AWS's host name for an API: ``{apiId}.execute-api.{region}.amazonaws.com``."""
    return f"{api_id}.execute-api.{region}.amazonaws.com".lower()


def split_host_port(authority: str, default_port: int = _HTTPS_PORT) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) as a lower-case host and a port."""
    text = authority.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    return host.rstrip("."), int(port) if port.isdigit() else default_port


def plan_callback(
    *,
    api_id: str,
    region: str,
    stage: str,
    domain_name: str | None,
    public: tuple[str, int] | None,
    listener_port: int,
) -> CallbackPlan:
    """Which names reach the functions' listener at ``listener_port``.

    Args:
        api_id, region: the API's execute-api name (port 443), exactly: other APIs' names are
            left alone.
        stage: the stage the management endpoint names (the config's first).
        domain_name: ``server.domainName``, which events carry (port 443 unless it names one).
        public: the plain-HTTP public listener's host and port, which events name when no
            domainName is configured; None when that listener speaks TLS itself.
        listener_port: the functions' listener.
    """
    execute_api = execute_api_host(api_id, region)
    names = [execute_api]
    targets = [(execute_api, _HTTPS_PORT)]
    if domain_name:
        host, port = split_host_port(domain_name)
        names.append(host)
        targets.append((host, port))
    if public is not None:
        host, port = public
        hosts = [*LOOPBACK_NAMES, *([host.lower()] if host not in _WILDCARD_HOSTS else [])]
        targets += [(name, port) for name in hosts]
    names += LOOPBACK_NAMES
    if public is not None and public[0] not in _WILDCARD_HOSTS:
        names.append(public[0].lower())
    return CallbackPlan(
        names=tuple(dict.fromkeys(names)),
        redirects=dict.fromkeys(targets, listener_port),
        endpoint=f"https://{execute_api}/{stage}",
        direct_endpoint=f"http://{_TARGET_HOST}:{listener_port}/{stage}",
    )


def encode_redirects(redirects: Mapping[tuple[str, int], int]) -> str:
    """The environment variable's text: a JSON list of ``[host, port, target_port]``."""
    return json.dumps([[host, port, target] for (host, port), target in redirects.items()])


def decode_redirects(text: str | None) -> dict[tuple[str, int], int]:
    """Read :func:`encode_redirects`'s text; anything malformed counts as no redirects."""
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        return {}
    redirects = {}
    for entry in entries if isinstance(entries, list) else ():
        if _is_entry(entry):
            host, port, target = entry
            redirects[split_host_port(host)[0], port] = target
    return redirects


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and all(isinstance(value, int) and 0 < value < 65536 for value in entry[1:])
    )


def find_redirect(
    redirects: Mapping[tuple[str, int], int], host: object, port: object
) -> int | None:
    """The listener port a connection to ``host:port`` goes to, or None to leave it alone.

    ``host`` and ``port`` are what :func:`socket.getaddrinfo` takes: text or bytes, a number, a
    service name or None.
    """
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    if not isinstance(host, str):
        return None
    if isinstance(port, str):
        port = int(port) if port.isdigit() else _SERVICE_PORTS.get(port.lower())
    if not isinstance(port, int):
        return None
    name = host.lower().rstrip(".").removeprefix("[").removesuffix("]")
    return redirects.get((_canonical(name), port))


def _canonical(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def install_redirects(redirects: Mapping[tuple[str, int], int]) -> None:
    """Wrap this process's :func:`socket.getaddrinfo` so that ``redirects`` apply.

    Only the address changes: the caller still names the original host, so TLS sends it as
    SNI and checks the certificate against it.
    """
    if not redirects:
        return
    resolve = socket.getaddrinfo
    table = {(_canonical(host), port): target for (host, port), target in redirects.items()}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        target = find_redirect(table, host, port)
        if target is not None:
            host, port = _TARGET_HOST, target
        return resolve(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
