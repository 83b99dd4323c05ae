"""registry_from_url: which backend a URL names, and what a bad URL says."""

from __future__ import annotations

import sys

import pytest

from wsgate.errors import ConfigError
from wsgate.registry import MemoryRegistry, registry_from_url


@pytest.mark.parametrize("url", ["", "memory://"])
def test_memory_urls(url):
    assert isinstance(registry_from_url(url), MemoryRegistry)


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost",
        "redis://localhost:6379/0",
        "redis://127.0.0.1:6380/15",
        "redis://[::1]:6379",
        "REDIS://Cache.Example:6379/",
        "redis://user:secret@cache.example:6379/2",
        "rediss://cache.example:6380/0?ssl_cert_reqs=required",
        "unix:///run/redis/redis.sock",
        "unix:///run/redis/redis.sock?db=3",
    ],
)
def test_redis_urls(url):
    from wsgate.registry.redis import RedisRegistry

    registry = registry_from_url(url, prefix="wsgate:api1:")
    assert isinstance(registry, RedisRegistry)
    assert registry.prefix == "wsgate:api1:"
    assert "secret" not in registry.where


def test_the_default_prefix():
    from wsgate.registry.redis import RedisRegistry

    registry = registry_from_url("redis://localhost")
    assert isinstance(registry, RedisRegistry)
    assert registry.prefix == "wsgate:"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "use memory://, redis://host:port/db"),
        ("localhost:6379", "use memory://"),
        ("redis", "use memory://"),
        ("memory://elsewhere", "memory:// takes no host, path or options"),
        ("memory:///path", "memory:// takes no host, path or options"),
        ("redis://localhost:port", "Port could not be cast to integer"),
        ("redis://localhost:70000", "Port out of range"),
        ("redis://:6379/0", "a host is needed, as in redis://localhost:6379/0"),
        ("rediss:///0", "a host is needed, as in rediss://localhost:6379/0"),
        ("redis://localhost/cache", "the path must be a database number, not 'cache'"),
        ("redis://localhost/0?db=zero", "db must be a database number, not 'zero'"),
        ("unix://", "a socket path is needed"),
        ("unix://host/run/redis.sock", "a socket path is needed"),
        ("unix:///run/redis.sock?db=-1", "db must be a database number, not '-1'"),
    ],
)
def test_bad_urls_are_config_errors(url, message):
    with pytest.raises(ConfigError) as caught:
        registry_from_url(url)
    [issue] = caught.value.issues
    assert issue.path == "server.registry"
    assert message in issue.message
    assert repr(url) in issue.message


def test_a_bad_url_never_shows_its_password():
    with pytest.raises(ConfigError) as caught:
        registry_from_url("redis://admin:hunter2@cache.example:port/0")
    text = str(caught.value)
    assert "hunter2" not in text
    assert "redis://admin:***@cache.example:port/0" in text


def test_redis_without_its_client_says_what_to_install(monkeypatch):
    # As if the package were not installed: no redis module, nor any loaded part of it.
    for name in [name for name in sys.modules if name.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "wsgate.registry.redis", raising=False)
    monkeypatch.delitem(sys.modules, "wsgate.registry.redis_bus", raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigError) as caught:
        registry_from_url("redis://:pw@localhost:6379/0")
    assert "pip install 'wsgate[redis]'" in str(caught.value)
    assert "pw" not in str(caught.value).replace("pip", "")
    assert isinstance(registry_from_url("memory://"), MemoryRegistry)
