"""Several nodes as one gateway: owner-targeted delivery, groups and fan-out, dead nodes.

Every node registers its connections in the shared registry and answers requests addressed to
it. A ``@connections`` call for a connection held elsewhere goes to that node only, which hands
the frame to the socket before it answers; a fan-out crosses to each node that holds members
once, with all of that node's ids. Each node heartbeats; when one stops (killed, partitioned), a
surviving node claims it, removes its connections and runs their ``$disconnect`` exactly once.
A node restarted under the same id before that does it itself, for the connections its previous
process (another incarnation) left. While the registry is unreachable, local traffic goes on;
cross-node calls fail at once, and when it comes back this node registers again what it holds.

A post answered with an error was not delivered: a forwarded request that reaches its owner
after the requester gave up is dropped (:meth:`ConnectionRegistry.request`). A post answered 200
was delivered once: attempts that carry the same idempotency id are delivered only the first time.

Heartbeats, dead nodes and registering again live in the base class,
:class:`~wsgate.server.membership.ClusterMembership`; delivery is here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from typing import Any

from wsgate.errors import ConnectionNotFound, ManagementError, RegistryError
from wsgate.registry.base import ConnectionPage, ConnectionQuery, ConnectionRegistry
from wsgate.server.dataplane import DataPlane
from wsgate.server.delivery import (
    DeliveredIds,
    DeliveryReport,
    data_of,
    delivery_key,
    frame_of,
    raise_refusal,
    refusal_reply,
)
from wsgate.server.membership import ClusterMembership, ClusterTiming

__all__ = ["Cluster", "ClusterTiming"]


class Cluster(ClusterMembership):
    """This node's part in a gateway of one or more nodes."""

    def __init__(
        self,
        dataplane: DataPlane,
        registry: ConnectionRegistry,
        node_id: str,
        timing: ClusterTiming = ClusterTiming(),  # noqa: B008 - frozen: one default is safe
    ) -> None:
        super().__init__(dataplane, registry, node_id, timing)
        self._delivered = DeliveredIds(timing.idempotency_seconds)

    # -- one connection ------------------------------------------------------------------------

    async def post(
        self,
        stage: str,
        connection_id: str,
        data: str | bytes,
        *,
        idempotency_id: str | None = None,
    ) -> None:
        """Send one message wherever the connection is.

        Args:
            idempotency_id: the same for every attempt of one call (as boto3's
                ``amz-sdk-invocation-id`` header is): the node that holds the connection
                delivers it once, however many attempts reach it within ``idempotency_seconds``.

        Raises:
            ConnectionNotFound: no such connection on this stage (410).
            NodeUnreachable: its node did not answer in time (the message was not delivered,
                unless the reply alone was lost: a retry with the same id tells).
            RegistryUnavailable: it is not here and the registry cannot say where it is.
        """
        key = delivery_key(stage, connection_id, idempotency_id)
        if key is not None and self._delivered.seen(key):
            return
        try:
            await self._post_here(stage, connection_id, data, key)
            return
        except ConnectionNotFound:
            request = {"op": "post", "stage": stage, "id": connection_id, **frame_of(data)}
        if idempotency_id is not None:
            request["idempotencyId"] = idempotency_id
        raise_refusal(await self._ask_owner(connection_id, request), connection_id)

    async def _post_here(
        self, stage: str, connection_id: str, data: str | bytes, key: str | None
    ) -> None:
        # DataPlane.post awaits nothing, so no other attempt with this key can slip in between
        # the caller's check and this record.
        await self._dataplane.post(stage, connection_id, data)
        if key is not None:
            self._delivered.add(key)

    async def describe(self, stage: str, connection_id: str) -> dict[str, Any]:
        """``GetConnection``'s answer, from the node that holds the connection."""
        try:
            return self._dataplane.describe(stage, connection_id)
        except ConnectionNotFound:
            reply = await self._ask_owner(
                connection_id, {"op": "get", "stage": stage, "id": connection_id}
            )
        raise_refusal(reply, connection_id)
        info: dict[str, Any] = reply["info"]
        return info

    async def delete(self, stage: str, connection_id: str) -> None:
        """Close a connection wherever it is."""
        try:
            self._dataplane.delete(stage, connection_id)
            return
        except ConnectionNotFound:
            reply = await self._ask_owner(
                connection_id, {"op": "delete", "stage": stage, "id": connection_id}
            )
        raise_refusal(reply, connection_id)

    # -- many connections ----------------------------------------------------------------------

    async def send(
        self, stage: str, connection_ids: Sequence[str], data: str | bytes
    ) -> DeliveryReport:
        """Send one message to many connections; each node is asked once, for all of its ids."""
        unique = list(dict.fromkeys(connection_ids))  # an id listed twice gets one message
        local = [cid for cid in unique if cid in self._dataplane.live]
        others = [cid for cid in unique if cid not in self._dataplane.live]
        owners = await self._registry.owners(others) if others else {}
        report = DeliveryReport(
            gone=[cid for cid in others if owners.get(cid) in (None, self.node_id)]
        )
        by_node = _by_node((cid, node) for cid, node in owners.items() if node != self.node_id)
        await self._fan_out(stage, by_node, local, data, report)
        return report

    async def send_group(self, stage: str, group: str, data: str | bytes) -> DeliveryReport:
        """Send one message to every member of a group."""
        members = await self._registry.members(stage, group)
        local = [cid for cid, node in members.items() if node == self.node_id]
        by_node = _by_node((cid, node) for cid, node in members.items() if node != self.node_id)
        report = DeliveryReport()
        await self._fan_out(stage, by_node, local, data, report)
        return report

    async def broadcast(self, stage: str, data: str | bytes) -> DeliveryReport:
        """Send one message to every connection on a stage, on every live node."""
        nodes = [n.node_id for n in await self._registry.nodes() if n.alive]
        report = DeliveryReport()
        local = self._dataplane.stage_connections(stage)
        remote = [node for node in nodes if node != self.node_id]
        results = await asyncio.gather(
            self._send_local(stage, local, data),
            *(
                self._send_remote(node, {"op": "broadcast", "stage": stage, **frame_of(data)}, [])
                for node in remote
            ),
        )
        for part in results:
            report.merge(part)
        return report

    async def join(self, stage: str, group: str, connection_id: str) -> None:
        """Add a connection to a group.

        Raises:
            ConnectionNotFound: the connection is not registered on this stage.
        """
        record = await self._registry.get(connection_id)
        if record is None or record.stage != stage:
            raise ConnectionNotFound(connection_id)
        if not await self._registry.join(stage, group, [connection_id]):
            raise ConnectionNotFound(connection_id)

    async def leave(self, stage: str, group: str, connection_id: str) -> None:
        """Remove a connection from a group."""
        await self._registry.leave(stage, group, [connection_id])

    async def listing(self, query: ConnectionQuery) -> ConnectionPage:
        """A page of the stage's connections (across all nodes)."""
        return await self._registry.list(query)

    # -- requests from other nodes -------------------------------------------------------------

    async def _answer(self, payload: bytes) -> bytes:
        request = json.loads(payload)
        try:
            reply = await self._perform(request)
        except ConnectionNotFound:
            reply = {"status": 410}
        except ManagementError as refused:  # e.g. 429: the client is too far behind
            reply = refusal_reply(refused)
        return json.dumps(reply).encode()

    async def _perform(self, request: dict[str, Any]) -> dict[str, Any]:
        op, stage = request["op"], request["stage"]
        dataplane = self._dataplane
        if op == "post":
            key = delivery_key(stage, request["id"], request.get("idempotencyId"))
            if key is None or not self._delivered.seen(key):
                await self._post_here(stage, request["id"], data_of(request), key)
            return {"status": 200}
        if op == "get":
            return {"status": 200, "info": dataplane.describe(stage, request["id"])}
        if op == "delete":
            dataplane.delete(stage, request["id"])
            return {"status": 204}
        ids = request["ids"] if op == "send" else dataplane.stage_connections(stage)
        report = await self._send_local(stage, ids, data_of(request))
        return {"status": 200, **report.to_json()}

    # -- helpers -------------------------------------------------------------------------------

    async def _ask_owner(self, connection_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """Ask the node that holds a connection (found and asked in one registry step).

        Raises:
            ConnectionNotFound: no node holds it.
        """
        timeout = self.timing.request_timeout_seconds
        payload = json.dumps(request).encode()
        found = await self._registry.request_owner(connection_id, payload, timeout)
        if found is None:
            raise ConnectionNotFound(connection_id)
        reply: dict[str, Any] = json.loads(found[1])
        return reply

    async def _ask(self, node_id: str, request: dict[str, Any]) -> dict[str, Any]:
        timeout = self.timing.request_timeout_seconds
        raw = await self._registry.request(node_id, json.dumps(request).encode(), timeout)
        reply: dict[str, Any] = json.loads(raw)
        return reply

    async def _fan_out(
        self,
        stage: str,
        by_node: dict[str, list[str]],
        local: list[str],
        data: str | bytes,
        report: DeliveryReport,
    ) -> None:
        frame = frame_of(data)
        parts = await asyncio.gather(
            self._send_local(stage, local, data),
            *(
                self._send_remote(node, {"op": "send", "stage": stage, "ids": ids, **frame}, ids)
                for node, ids in by_node.items()
            ),
        )
        for part in parts:
            report.merge(part)

    async def _send_local(
        self, stage: str, ids: Iterable[str], data: str | bytes
    ) -> DeliveryReport:
        report = DeliveryReport()
        for connection_id in ids:
            try:
                await self._dataplane.post(stage, connection_id, data)
            except ConnectionNotFound:
                report.gone.append(connection_id)
            except ManagementError as refused:
                report.failed[connection_id] = refused.message or refused.error_type
            else:
                report.delivered.append(connection_id)
        return report

    async def _send_remote(
        self, node_id: str, request: dict[str, Any], ids: list[str]
    ) -> DeliveryReport:
        try:
            return DeliveryReport.from_json(await self._ask(node_id, request))
        except RegistryError as error:  # the node or the registry did not answer
            return DeliveryReport(failed=dict.fromkeys(ids, str(error)))


def _by_node(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for connection_id, node in pairs:
        grouped.setdefault(node, []).append(connection_id)
    return grouped
