"""Connection registries, chosen by URL: ``memory://`` for one node, Redis for several.

The Redis backend (and the Redis client it needs, the ``redis`` extra) is imported only when
a URL names it, the way broadcaster picks its backends.
"""

from __future__ import annotations

from typing import NoReturn
from urllib.parse import parse_qs, urlsplit

from wsgate.errors import ConfigError, ConfigIssue
from wsgate.registry.base import ConnectionRecord, ConnectionRegistry, redact_url
from wsgate.registry.memory import MemoryRegistry

__all__ = [
    "ConnectionRecord",
    "ConnectionRegistry",
    "MemoryRegistry",
    "check_registry_url",
    "redact_url",
    "registry_from_url",
]

_CONFIG_PATH = "server.registry"
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def registry_from_url(
    url: str, *, prefix: str = "wsgate:", max_clock_skew_seconds: float = 0.25
) -> ConnectionRegistry:
    """Build the registry a URL names; no connection is opened yet.

    Args:
        url: ``memory://`` (or empty), ``redis://host[:port][/db]``, ``rediss://...`` (TLS)
            or ``unix:///path/to/socket[?db=N]``.
        prefix: put before every Redis key and channel (unused in memory).
        max_clock_skew_seconds: how far apart nodes' clocks may be (forwarded requests' deadlines).

    Raises:
        ConfigError: the URL is malformed, or names Redis while the client is not installed.
    """
    scheme = _check_url(url)
    if scheme == "memory":
        return MemoryRegistry()
    try:
        from wsgate.registry.redis import RedisRegistry
    except ImportError as error:
        if (error.name or "").partition(".")[0] != "redis":
            raise
        message = f"{redact_url(url)} needs the Redis client: pip install 'wsgate[redis]'"
        raise ConfigError([ConfigIssue(_CONFIG_PATH, message)]) from error
    return RedisRegistry(url, prefix=prefix, max_clock_skew_seconds=max_clock_skew_seconds)


def check_registry_url(url: str) -> None:
    """Refuse a registry URL that cannot work, without connecting (``wsgate validate``).

    Raises:
        ConfigError: the URL is malformed.
    """
    _check_url(url)


def _check_url(url: str) -> str:
    """The URL's scheme once it is known to be usable."""
    if url in ("", "memory://"):
        return "memory"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        _refuse(url, "memory:// takes no host, path or options")
    if scheme not in _REDIS_SCHEMES:
        _refuse(url, "use memory://, redis://host:port/db, rediss://host:port/db or unix:///path")
    if scheme == "unix":
        if not parts.path or parts.netloc:
            _refuse(url, "a socket path is needed, as in unix:///run/redis.sock?db=0")
    else:
        _check_host(url, scheme)
    for db in parse_qs(parts.query).get("db", []):
        if not db.isdigit():
            _refuse(url, f"db must be a database number, not {db!r}")
    return scheme


def _check_host(url: str, scheme: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as error:
        _refuse(url, str(error))
    if not parts.hostname:
        _refuse(url, f"a host is needed, as in {scheme}://localhost:6379/0")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        _refuse(url, f"the path must be a database number, not {db!r}")


def _refuse(url: str, reason: str) -> NoReturn:
    raise ConfigError(
        [ConfigIssue(_CONFIG_PATH, f"invalid registry URL {redact_url(url)!r}: {reason}")]
    )
