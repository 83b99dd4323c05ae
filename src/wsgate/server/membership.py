"""This node's membership of a gateway: heartbeats, dead nodes, and a registry kept current.

Each node heartbeats; when one stops (killed, partitioned), a surviving node claims it, removes
its connections and runs their ``$disconnect`` exactly once. A node restarted under the same id
before that does it itself, for the connections its previous process (another incarnation)
left. When the registry comes back after an outage, this node registers again what it holds.
:class:`ClusterMembership` does all of that; :class:`~wsgate.server.cluster.Cluster` builds
delivery across nodes on it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from wsgate.errors import RegistryError, RegistryUnavailable
from wsgate.observability.logs import log_event
from wsgate.registry.base import ConnectionRegistry, Heartbeat
from wsgate.server.dataplane import DataPlane
from wsgate.tasks import cancel_and_wait

__all__ = ["ClusterMembership", "ClusterTiming"]

logger = logging.getLogger(__name__)

# At most this many $disconnects of a dead node's connections run at once.
_REAP_CONCURRENCY: Final = 32


@dataclass(frozen=True, slots=True)
class ClusterTiming:
    """How often nodes say they are alive, and how soon silence means dead."""

    heartbeat_seconds: float = 1.0
    node_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 2.0
    touch_seconds: float = 5.0
    # How long a delivered post's idempotency id is remembered: longer than a client's
    # retries of one call take (boto3's legacy mode: 5 attempts, backoff at most 20 s each).
    idempotency_seconds: float = 120.0


class ClusterMembership(abc.ABC):
    """This node's membership of a gateway of one or more nodes; the base of ``Cluster``.

    It serves :meth:`_answer` to the other nodes, which the subclass defines.
    """

    def __init__(
        self,
        dataplane: DataPlane,
        registry: ConnectionRegistry,
        node_id: str,
        timing: ClusterTiming = ClusterTiming(),
    ) -> None:
        self._dataplane = dataplane
        self._registry = registry
        self.node_id = node_id
        self.timing = timing
        self._tasks: list[asyncio.Task[None]] = []
        # When the registry last became reachable; None while it is not.
        self._healthy_since: float | None = None
        self._touched: dict[str, int] = {}
        self._checked_at = 0.0
        self._stopping = False
        # This process among all that ran as node_id; in its heartbeats and its connections.
        self.incarnation = dataplane.registration.incarnation
        self._beats = 0  # successful heartbeats
        # Another process heartbeat as node_id (a predecessor killed moments ago) and counts
        # as dead once it has been silent until then; its connections are ended after that.
        self._predecessor_silent_at = 0.0
        self._predecessor_ended = False
        self._ending: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Answer other nodes, then keep heartbeating, reaping and refreshing activity."""
        with contextlib.suppress(RegistryUnavailable):  # the heartbeat loop retries
            await self._registry.serve(self.node_id, self._answer)
        await self._heartbeat()
        for loop in (self._heartbeat_loop, self._reaper_loop, self._touch_loop):
            self._tasks.append(asyncio.create_task(loop()))

    async def stop(self) -> None:
        """Stop the loops and leave the cluster (after the data plane closed its sockets)."""
        self._stopping = True
        await cancel_and_wait([*self._tasks, *([self._ending] if self._ending else [])])
        self._tasks.clear()
        with contextlib.suppress(RegistryError):
            await self._registry.forget_node(self.node_id)

    @property
    def registry_healthy(self) -> bool:
        """Whether the last heartbeat reached the registry."""
        return self._healthy_since is not None

    @abc.abstractmethod
    async def _answer(self, payload: bytes) -> bytes:
        """Answer another node's request (what it asks is the subclass's business)."""

    # -- heartbeats, dead nodes, activity --------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.timing.heartbeat_seconds)
            try:
                await self._heartbeat()
            except Exception:  # the loop must outlive any one failure
                logger.exception("heartbeat of node %s failed", self.node_id)

    async def _heartbeat(self) -> None:
        ttl = self.timing.node_timeout_seconds
        try:
            beat = await self._registry.heartbeat(self.node_id, ttl, self.incarnation)
        except RegistryUnavailable as error:
            if self._healthy_since is not None:
                logger.warning("registry unavailable, serving local connections only: %s", error)
            self._healthy_since = None
            return
        if beat.declared_dead:
            self._declared_dead()
        if beat.replaced is not None:
            self._heard_other(beat)
        self._beats += 1
        if self._healthy_since is None:
            # Back after an outage (or at start). Redo what failed meanwhile, and check at
            # once whether Redis restarted empty rather than re-add everything: a missed
            # heartbeat on a busy node must not cost it a full re-registration.
            with contextlib.suppress(RegistryUnavailable):
                await self._registry.serve(self.node_id, self._answer)
            self._checked_at = 0.0
            self._healthy_since = time.monotonic()
        if self._dataplane.registration.unsynced():
            await self._register_again(everything=False)
        if await self._registry_forgot():
            await self._register_again(everything=True)  # Redis restarted empty
        self._end_predecessor_when_silent()

    def _declared_dead(self) -> None:
        if not self._dataplane.live:  # a fresh process: the claim was of its predecessor
            log_event(logger, logging.INFO, "previous process declared dead", node=self.node_id)
            return
        # Others took this node for dead and ran its connections' $disconnect.
        logger.error("node %s was declared dead; closing the connections it held", self.node_id)
        self._dataplane.abandon_all()

    def _heard_other(self, beat: Heartbeat) -> None:
        """Another process heartbeat as this node: its connections wait until it is dead.

        Dead means silent for as long as its last heartbeat was to live (the rule that other
        nodes apply): a predecessor killed moments ago, not another live process that was
        given the same node id by mistake, whose connections must not be ended.
        """
        if self._beats:
            logger.error(
                "another process (incarnation %s) heartbeats as node %s: node ids must be unique",
                beat.replaced,
                self.node_id,
            )
        silent_at = time.monotonic() + beat.replaced_ttl_seconds
        self._predecessor_silent_at = max(self._predecessor_silent_at, silent_at)
        self._predecessor_ended = False

    def _end_predecessor_when_silent(self) -> None:
        if self._predecessor_ended or self._ending is not None or self._stopping:
            return
        if time.monotonic() >= self._predecessor_silent_at:
            self._ending = asyncio.create_task(self._end_predecessor())

    async def _end_predecessor(self) -> None:
        """End the connections that earlier processes of this node id left registered.

        A process killed without a goodbye leaves its connections in the registry; when the
        node comes back under the same id before its heartbeat expired, no other node takes
        them. They end here as they would there: removed, then ``$disconnect`` with 1006.
        """
        silent_at = self._predecessor_silent_at
        try:
            ids = await self._registry.stale_connections(self.node_id, self.incarnation)
            if ids:
                log_event(
                    logger,
                    logging.WARNING,
                    "previous process lost",
                    node=self.node_id,
                    connections=len(ids),
                )
            await self._end_lost(ids)
            # Unless yet another process was heard meanwhile: its turn comes when it is silent.
            self._predecessor_ended = self._predecessor_silent_at == silent_at
        except RegistryUnavailable:
            pass  # tried again after the next heartbeat
        except Exception:
            logger.exception(
                "ending the connections of node %s's previous process failed", self.node_id
            )
        finally:
            self._ending = None

    async def _registry_forgot(self) -> bool:
        """Whether the registry holds fewer of this node's connections than it should.

        Checked about once per node timeout: a Redis that restarted without its data has
        forgotten everything, and the heartbeat alone would not notice.
        """
        now = time.monotonic()
        if now - self._checked_at < self.timing.node_timeout_seconds:
            return False
        self._checked_at = now
        held = next(
            (n.connections for n in await self._registry.nodes() if n.node_id == self.node_id), 0
        )
        return held < len(self._dataplane.live)

    async def _register_again(self, *, everything: bool) -> None:
        """Make the registry hold what this node holds: all of it when Redis lost it, or only
        what failed to register or unregister while it could not be reached."""
        with contextlib.suppress(RegistryUnavailable):
            dataplane = self._dataplane
            count = await dataplane.registration.register_all(
                dataplane.live, only_missing=not everything
            )
            if count:
                log_event(logger, logging.INFO, "registry restored", connections=count)

    async def _reaper_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.timing.heartbeat_seconds)
            try:
                await self._reap()
            except RegistryUnavailable:
                continue
            except Exception:  # the loop must outlive any one failure
                logger.exception("cleaning up dead nodes failed")

    async def _reap(self) -> None:
        healthy = self._healthy_since
        # Right after an outage every node's heartbeat may look expired: wait one timeout so
        # that live nodes heartbeat again before anyone is declared dead.
        if healthy is None or time.monotonic() - healthy < self.timing.node_timeout_seconds:
            return
        for node in await self._registry.nodes():
            if node.alive or node.node_id == self.node_id:
                continue
            claim_ttl = self.timing.node_timeout_seconds * 4
            if await self._registry.claim_node(node.node_id, self.node_id, claim_ttl):
                await self._clean_up(node.node_id)

    async def _clean_up(self, dead: str) -> None:
        # Not those of a process that restarted under the dead node's id meanwhile.
        ids = await self._registry.stale_connections(dead)
        log_event(logger, logging.WARNING, "node lost", node=dead, connections=len(ids))
        await self._end_lost(ids)
        await self._registry.forget_node(dead)

    async def _end_lost(self, ids: Sequence[str]) -> None:
        """Remove connections whose process is gone, and run their ``$disconnect``."""
        limit = asyncio.Semaphore(_REAP_CONCURRENCY)

        async def disconnect(connection_id: str) -> None:
            async with limit:
                record = await self._registry.remove(connection_id)
                if record is not None:  # exactly one remover gets it
                    await self._dataplane.disconnect_lost(record)

        await asyncio.gather(*(disconnect(cid) for cid in ids))

    async def _touch_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.timing.touch_seconds)
            changed = {
                cid: at
                for cid, at in self._dataplane.last_active().items()
                if self._touched.get(cid) != at
            }
            if not changed:
                continue
            with contextlib.suppress(RegistryUnavailable):
                await self._registry.touch(changed)
                self._touched = {
                    **{c: a for c, a in self._touched.items() if c in self._dataplane.live},
                    **changed,
                }
