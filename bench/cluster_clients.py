"""The fan-out receivers of ``cluster.py``: thousands of idle WebSocket clients per process.

Each worker process (spawned, pinned, on uvloop, with picows clients) opens the connections it
is told to and then only listens. Every fan-out message starts with its tag and a ``|``
(``one.broadcast.3|xxxx``); the tag's first field is the stage, so each worker knows how many of
its clients should get it. When the last of them has, the worker tells the parent, unasked, how
many got it and when the first and the last did (``time.monotonic()``, which is
``CLOCK_MONOTONIC``, one clock for every process of the machine).

Parent and worker talk over a pipe: ``("connect", stage, url, count)`` → ``("connected", stage,
opened, seconds, errors)``; ``("status",)`` → ``("status", {tag: received}, disconnected)``;
``("close",)`` → ``("closed",)``; and, unasked, ``("done", tag, received, first, last)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

_CONNECT_CONCURRENCY = 64
# picows reads into a buffer per connection; fan-out frames are tiny.
_READ_BUFFER = 4096


def message(tag: object, size: int) -> bytes:
    """``tag|`` padded with ``x`` up to ``size`` bytes: what every benchmark message looks like."""
    text = f"{tag}|"
    return (text + "x" * max(0, size - len(text))).encode()


def raise_file_limit(needed: int) -> int:
    """Raise this process's open-file limit towards ``needed``; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class _Tally:
    """What one worker's clients received, per fan-out tag."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self.expected: dict[bytes, int] = {}  # stage -> clients of this worker on it
        self.rounds: dict[bytes, list[float]] = {}  # tag -> [received, first, last]
        self.disconnected = 0

    def receive(self, data: bytes) -> None:
        now = time.monotonic()
        tag = data.partition(b"|")[0]
        entry = self.rounds.get(tag)
        if entry is None:
            entry = self.rounds[tag] = [0, now, now]
        entry[0] += 1
        entry[2] = now
        if entry[0] == self.expected.get(tag.partition(b".")[0]):
            self._pipe.send(("done", tag.decode(), int(entry[0]), entry[1], entry[2]))


class _Receiver(WSListener):
    def __init__(self, tally: _Tally) -> None:
        self._tally = tally

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            self._tally.receive(frame.get_payload_as_bytes())
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._tally.disconnected += 1


class _Worker:
    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self._tally = _Tally(pipe)
        self._transports: list[WSTransport] = []

    async def connect(self, stage: str, url: str, count: int) -> tuple[Any, ...]:
        gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)
        started = time.monotonic()

        async def one() -> None:
            async with gate:
                transport, listener = await ws_connect(
                    lambda: _Receiver(self._tally),
                    url,
                    websocket_handshake_timeout=30,
                    read_buffer_init_size=_READ_BUFFER,
                )
            if not isinstance(listener, _Receiver):
                raise ConnectionError("closed during the opening handshake")
            self._transports.append(transport)

        outcomes = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        errors = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)]
        opened = count - len(errors)
        key = stage.encode()
        self._tally.expected[key] = self._tally.expected.get(key, 0) + opened
        return ("connected", stage, opened, time.monotonic() - started, errors[:3])

    def status(self) -> tuple[Any, ...]:
        received = {tag.decode(): int(entry[0]) for tag, entry in self._tally.rounds.items()}
        return ("status", received, self._tally.disconnected)

    async def close(self) -> None:
        for transport in self._transports:
            if not transport.is_disconnected:
                transport.send_close(WSCloseCode.GOING_AWAY)
                transport.disconnect()
        await asyncio.sleep(0.1)  # let the closes leave before the process ends


async def _serve(pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def pull() -> None:
        try:
            inbox.put_nowait(pipe.recv())
        except (EOFError, OSError):  # the parent is gone
            loop.remove_reader(pipe.fileno())
            inbox.put_nowait(None)

    loop.add_reader(pipe.fileno(), pull)
    worker = _Worker(pipe)
    while True:
        command = await inbox.get()
        if command is None:
            break
        if command[0] == "connect":
            pipe.send(await worker.connect(*command[1:]))
        elif command[0] == "status":
            pipe.send(worker.status())
        elif command[0] == "close":
            await worker.close()
            pipe.send(("closed",))
            break
    loop.remove_reader(pipe.fileno())
    await worker.close()


def _worker_main(pipe: Connection, cpus: Sequence[int], connections: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself
    if cpus:
        os.sched_setaffinity(0, cpus)
    raise_file_limit(connections + 100)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        uvloop.run(_serve(pipe))


class ReceiverPool:
    """The parent's side: worker processes, their replies, and their ``done`` reports."""

    def __init__(self, count: int, cpus: Sequence[int], connections_each: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._processes = []
        for _ in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_worker_main, args=(theirs, tuple(cpus), connections_each), daemon=True
            )
            process.start()
            theirs.close()
            self._pipes.append(mine)
            self._processes.append(process)
        self._replies: list[asyncio.Queue[tuple[Any, ...]]] = []
        self._done: dict[str, dict[int, tuple[Any, ...]]] = {}
        self._arrived = asyncio.Event()
        self._closed = False

    @property
    def size(self) -> int:
        """How many worker processes there are."""
        return len(self._pipes)

    def listen(self) -> None:
        """Start reading the workers' pipes on the running event loop."""
        loop = asyncio.get_running_loop()
        for index, pipe in enumerate(self._pipes):
            self._replies.append(asyncio.Queue())
            loop.add_reader(pipe.fileno(), self._pull, index)

    def _pull(self, index: int) -> None:
        try:
            message = self._pipes[index].recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self._pipes[index].fileno())
            message = ("exited",)
        if message[0] == "done":
            self._done.setdefault(message[1], {})[index] = message
            self._arrived.set()
        else:
            self._replies[index].put_nowait(message)

    async def ask(self, index: int, *command: Any, timeout: float = 60.0) -> tuple[Any, ...]:
        """Send one command to one worker and wait for its reply.

        Raises:
            RuntimeError: the worker exited.
        """
        self._pipes[index].send(command)
        reply = await asyncio.wait_for(self._replies[index].get(), timeout)
        if reply[0] == "exited":
            raise RuntimeError(f"receiver worker {index} exited")
        return reply

    async def wait_done(
        self, tag: str, workers: Sequence[int], timeout: float
    ) -> dict[int, tuple[Any, ...]] | None:
        """The ``done`` reports of ``workers`` for ``tag``; None if some are missing in time."""
        deadline = time.monotonic() + timeout
        while True:
            reports = self._done.get(tag, {})
            if all(index in reports for index in workers):
                return self._done.pop(tag)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def close(self) -> None:
        """Ask every worker to close its connections and exit; terminate the ones that hang."""
        if self._closed:
            return
        self._closed = True
        for index in range(self.size):
            with contextlib.suppress(Exception):
                await self.ask(index, "close", timeout=10.0)
        self.terminate()

    def terminate(self) -> None:
        """End the worker processes (whatever state they are in)."""
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for pipe in self._pipes:
                with contextlib.suppress(Exception):
                    loop.remove_reader(pipe.fileno())
        for process in self._processes:
            process.join(timeout=2)
            if process.is_alive():
                process.terminate()
                process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join(timeout=2)
        for pipe in self._pipes:
            pipe.close()
