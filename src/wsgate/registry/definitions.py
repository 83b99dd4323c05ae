"""The control plane's definitions in Redis, shared by every node that uses the same Redis.

Keys (after the prefix, ``wsgate:controlplane:`` by default)::

    apis            hash: apiId -> the definition (JSON), as the control plane accepted it
    apis:revision   hash: apiId -> how many times the definition was written
    apis:version    counter: bumped by every write and delete

A write names the revision it started from and fails if another node wrote since (a Lua
script compares and sets in one step), so two nodes changing one API at once cannot lose a
change: the second gets AWS's ``ConflictException`` and tries again. Every node reads the
counter every ``poll_seconds`` and, when it moved, fetches the definitions whose revision
differs from the one it serves. Polling rather than pub/sub: a node that was cut off from Redis
catches up on its next read, with nothing to replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from wsgate.errors import DefinitionConflict, RegistryUnavailable
from wsgate.registry.base import redact_url
from wsgate.types import JSONObject

__all__ = ["RedisApiStore"]

logger = logging.getLogger(__name__)

# KEYS: apis, apis:revision, apis:version. ARGV: apiId, the revision read, the definition.
_SAVE: Final = """
local revision = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if revision ~= tonumber(ARGV[2]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], revision + 1)
redis.call('INCR', KEYS[3])
return revision + 1
"""
_DELETE: Final = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
"""

Changed = Callable[[str], Awaitable[None]]


class RedisApiStore:
    """The definitions of the control plane's APIs in Redis, by id, shared between nodes.

    Args:
        url: the registry's Redis URL.
        prefix: put before every key.
        poll_seconds: how often other nodes' changes are looked for.
        socket_timeout: seconds a command may take before Redis counts as unreachable.
    """

    shared: Final = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "wsgate:controlplane:",
        poll_seconds: float = 0.5,
        socket_timeout: float = 1.0,
    ) -> None:
        self.where = redact_url(url)
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        self._keys = [f"{prefix}apis", f"{prefix}apis:revision", f"{prefix}apis:version"]
        self._save = self._client.register_script(_SAVE)
        self._delete = self._client.register_script(_DELETE)
        self._poll_seconds = poll_seconds
        # The revision of each definition this node holds: what it writes from.
        self._revisions: dict[str, int] = {}
        self._version: object = None
        self._poller: asyncio.Task[None] | None = None

    async def load(self) -> dict[str, JSONObject]:
        """Every definition kept, and the revisions they are at."""
        async with self._errors():
            # One transaction: a revision read with a definition of another would let a write
            # from a stale copy pass.
            pipe = self._client.pipeline(transaction=True)
            pipe.hgetall(self._keys[0])
            pipe.hgetall(self._keys[1])
            definitions, revisions = await pipe.execute()
        self._revisions = {_text(key): int(value) for key, value in revisions.items()}
        return {_text(key): json.loads(value) for key, value in definitions.items()}

    async def fetch(self, api_id: str) -> JSONObject | None:
        """One definition as it is now (None: deleted), and the revision this node is at."""
        async with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hget(self._keys[0], api_id)
            pipe.hget(self._keys[1], api_id)
            text, revision = await pipe.execute()
        if text is None:
            self._revisions.pop(api_id, None)
            return None
        self._revisions[api_id] = int(revision)
        data: JSONObject = json.loads(text)
        return data

    async def save(self, api_id: str, definition: JSONObject) -> None:
        """Keep a definition, unless another node wrote it since this one read it.

        Raises:
            DefinitionConflict: another node changed it first.
            RegistryUnavailable: Redis did not answer.
        """
        text = json.dumps(definition, separators=(",", ":"))
        expected = self._revisions.get(api_id, 0)
        async with self._errors():
            revision = await self._save(keys=self._keys, args=[api_id, expected, text])
        if revision < 0:
            raise DefinitionConflict(api_id)
        self._revisions[api_id] = revision

    async def delete(self, api_id: str) -> None:
        """Forget one API on every node."""
        async with self._errors():
            await self._delete(keys=self._keys, args=[api_id])
        self._revisions.pop(api_id, None)

    async def watch(self, changed: Changed) -> None:
        """Call ``changed(apiId)`` for each definition another node writes or deletes."""
        self._poller = asyncio.create_task(self._poll(changed), name="wsgate-definitions")

    async def close(self) -> None:
        """Stop watching and close the connections."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self._client.aclose()

    async def _poll(self, changed: Changed) -> None:
        unavailable = False
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                version, ids = await self._changes()
                for api_id in ids:
                    try:
                        await changed(api_id)
                    except (RedisError, RegistryUnavailable):
                        raise
                    except Exception:  # the watch must outlive one definition it cannot serve
                        logger.exception("cannot apply control plane API %s from Redis", api_id)
                self._version = version
            except (RedisError, RegistryUnavailable) as error:
                if not unavailable:
                    logger.warning("control plane definitions at %s: %s", self.where, error)
                unavailable = True
                continue
            if unavailable:
                logger.info("control plane definitions at %s: reachable again", self.where)
                unavailable = False

    async def _changes(self) -> tuple[object, list[str]]:
        """The counter, and the APIs whose revision differs from the one this node holds."""
        version = await self._client.get(self._keys[2])
        if version == self._version:
            return version, []
        revisions = await self._client.hgetall(self._keys[1])
        now = {_text(key): int(value) for key, value in revisions.items()}
        ids = set(now) | set(self._revisions)
        changed = (api_id for api_id in ids if now.get(api_id) != self._revisions.get(api_id))
        return version, sorted(changed)

    @contextlib.asynccontextmanager
    async def _errors(self) -> Any:
        try:
            yield
        except RedisError as error:
            raise RegistryUnavailable(f"Redis at {self.where}: {error}") from error


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key
