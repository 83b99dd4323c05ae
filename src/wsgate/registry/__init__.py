"""Connection registries, chosen by URL (``memory://``; Redis arrives with multi-node support)."""

from __future__ import annotations

from wsgate.errors import ConfigError, ConfigIssue
from wsgate.registry.base import ConnectionRecord, ConnectionRegistry
from wsgate.registry.memory import MemoryRegistry

__all__ = ["ConnectionRecord", "ConnectionRegistry", "MemoryRegistry", "registry_from_url"]


def registry_from_url(url: str) -> ConnectionRegistry:
    """Build the registry a URL names.

    Raises:
        ConfigError: the scheme is not supported.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else url.lower()
    if scheme in ("memory", ""):
        return MemoryRegistry()
    raise ConfigError([ConfigIssue("registry", f"unsupported registry URL scheme {scheme!r}")])
