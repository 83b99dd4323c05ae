"""``wsgate connect``: an interactive WebSocket client in the spirit of wscat.

Each line read from stdin is sent as one text frame and each frame received is printed to
stdout; ``-x`` sends messages given on the command line instead. The exit status tells a
script how the session ended (see :class:`ExitCode` and the ``--help`` epilog).
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import sys
from dataclasses import dataclass
from typing import Literal, TextIO

import aiohttp

from wsgate.clients import USER_AGENT, non_negative_float, positive_float, positive_int
from wsgate.clients.lines import open_lines
from wsgate.clients.ws_options import (
    ConnectOptions,
    OutputMode,
    format_frame,
    parse_header,
    parse_ws_url,
)

__all__ = [
    "ConnectOptions",
    "ExitCode",
    "OutputMode",
    "add_parser",
    "connect_command",
    "format_frame",
    "parse_header",
    "parse_ws_url",
    "run_connect",
]


class ExitCode(enum.IntEnum):
    """Exit statuses of ``wsgate connect``."""

    OK = 0
    CONNECTION_FAILED = 1
    USAGE = 2
    HANDSHAKE_REJECTED = 3
    ABNORMAL_CLOSE = 4
    # 128 + SIGINT, what shells report for a process killed by Ctrl-C.
    INTERRUPTED = 130


# RFC 6455 section 7.4.1: 1000 is a normal closure and 1001 an endpoint going away (a server
# shutting down or redeploying); neither means the conversation failed.
_NORMAL_CLOSE_CODES = frozenset({1000, 1001})
# RFC 6455 section 7.1.5: the code to report when the connection ends without a close frame.
_ABNORMAL_CLOSURE = 1006
# The server owes us its close frame promptly; do not hang on a peer that never answers.
_CLOSE_TIMEOUT = 5.0

_EPILOG = """\
input:
  Each stdin line, without its line ending, is sent as one text frame. When stdin ends, or
  once the -x messages are sent, replies are still printed until none has arrived for --wait
  seconds; then the client closes with 1000. --count N closes as soon as N frames arrived.
  The "> " prompt is shown only when stdin and stdout are both terminals.

output (stdout, one line per frame; a frame holding newlines spans lines except in --json):
  default  "< TEXT" for a text frame, "< [binary N bytes] BASE64" for a binary frame
  --raw    the text alone, or the base64 of a binary frame alone
  --json   {"type": "text"|"binary", "data": TEXT|BASE64}
  When the server closes, "closed: CODE REASON" goes to stderr.

exit status:
  0    closed normally: by this client, or by the server with 1000 or 1001
  1    connection failed (refused, DNS, TLS, handshake timeout)
  2    usage error
  3    handshake rejected: the server answered an HTTP status instead of 101
  4    the server closed with any other code, or the connection dropped (1006)
  130  interrupted with Ctrl-C
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connect`` on the ``wsgate`` command line."""
    parser = subparsers.add_parser(
        "connect",
        help="open an interactive WebSocket session",
        description="Send stdin lines (or -x messages) as text frames and print the replies.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", type=parse_ws_url, metavar="URL", help="ws:// or wss:// URL")
    _add_handshake_arguments(parser.add_argument_group("handshake"))
    _add_session_arguments(parser.add_argument_group("session"))
    output = parser.add_argument_group("output").add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        default="text",
        help="print one JSON object per frame",
    )
    output.add_argument(
        "--raw",
        dest="output",
        action="store_const",
        const="raw",
        help="print frame payloads without the '< ' prefix",
    )
    parser.set_defaults(func=connect_command)


def _add_handshake_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "-H",
        "--header",
        dest="headers",
        type=parse_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a handshake header (repeatable)",
    )
    group.add_argument(
        "--subprotocol",
        dest="subprotocols",
        action="append",
        default=[],
        metavar="NAME",
        help="offer this subprotocol (repeatable, in order of preference)",
    )
    group.add_argument("--origin", help="send this Origin header")
    group.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="give up on the opening handshake after SECONDS (default: 10)",
    )


def _add_session_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "-x",
        "--execute",
        action="append",
        default=[],
        metavar="MSG",
        help="send MSG instead of reading stdin (repeatable), print replies, then exit",
    )
    group.add_argument(
        "--wait",
        type=non_negative_float,
        default=2.0,
        metavar="SECONDS",
        help="after the input ends, exit once no frame arrived for SECONDS (default: 2)",
    )
    group.add_argument("--count", type=positive_int, metavar="N", help="exit once N frames arrived")


def connect_command(args: argparse.Namespace) -> int:
    """Run ``wsgate connect`` on the process's standard streams; return the exit status."""
    try:
        return asyncio.run(run_connect(ConnectOptions.from_args(args)))
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # end the line the terminal echoed ^C on
        return ExitCode.INTERRUPTED


async def run_connect(
    options: ConnectOptions,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Connect, converse until the input or the connection ends, and return the exit status.

    Streams default to the ``sys`` ones at call time, so a caller may substitute any of them.
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    interactive = not options.execute and stdin.isatty() and stdout.isatty()
    console = _Console(stdout, stderr, options.output, prompt=interactive)
    # One deadline covers DNS, connect, TLS and the upgrade response, and nothing after it;
    # the session's own timeouts (five minutes by default) must not cut a long session short.
    no_timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(
        headers={"User-Agent": USER_AGENT}, timeout=no_timeout
    ) as session:
        try:
            async with asyncio.timeout(options.timeout):
                ws = await session.ws_connect(
                    options.url,
                    protocols=options.subprotocols,
                    headers=options.headers,
                    origin=options.origin,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_TIMEOUT),
                )
        except aiohttp.WSServerHandshakeError as exc:
            return console.fail(ExitCode.HANDSHAKE_REJECTED, _describe_rejection(exc))
        except aiohttp.InvalidURL as exc:
            return console.fail(ExitCode.USAGE, f"invalid URL {options.url!r}: {exc}")
        except TimeoutError:
            message = f"handshake with {options.url} timed out after {options.timeout:g} s"
            return console.fail(ExitCode.CONNECTION_FAILED, message)
        except aiohttp.ClientError as exc:
            message = f"cannot connect to {options.url}: {exc or type(exc).__name__}"
            return console.fail(ExitCode.CONNECTION_FAILED, message)
        if interactive:
            protocol = f" (subprotocol {ws.protocol})" if ws.protocol else ""
            console.note(f"connected to {options.url}{protocol}; Ctrl-D closes, Ctrl-C quits")
        async with ws:
            return await _Conversation(ws, options, stdin, console).run()


def _describe_rejection(exc: aiohttp.WSServerHandshakeError) -> str:
    if exc.status == 101:
        # Switched protocols, but with a missing or wrong Upgrade, Connection or Accept header.
        return f"invalid handshake response: {exc.message}"
    return f"server answered HTTP {exc.status}"


@dataclass(frozen=True, slots=True)
class _ServerClose:
    """How the server ended the connection."""

    code: int
    reason: str


class _Console:
    """Where frames, prompts and notes are written, in the chosen output mode."""

    def __init__(self, stdout: TextIO, stderr: TextIO, mode: OutputMode, *, prompt: bool) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self._mode = mode
        self._prompt = prompt

    def frame(self, data: str | bytes) -> None:
        """Print a received frame, keeping the prompt below it on a terminal."""
        self._clear_prompt()
        self._stdout.write(format_frame(data, self._mode) + "\n")
        self.prompt()

    def prompt(self) -> None:
        """Show ``> `` when stdin and stdout are terminals; flush for readers of a pipe."""
        if self._prompt:
            self._stdout.write("> ")
        self._stdout.flush()

    def end_prompt(self) -> None:
        """Stop prompting once the input has ended, leaving no stray prompt behind."""
        self._clear_prompt()
        self._prompt = False
        self._stdout.flush()

    def note(self, message: str) -> None:
        """Write a status line to stderr."""
        self._clear_prompt()
        self._stdout.flush()
        print(message, file=self._stderr, flush=True)

    def fail(self, code: ExitCode, message: str) -> int:
        """Report an error and return ``code`` so callers can ``return console.fail(...)``."""
        self.note(f"error: {message}")
        return code

    def _clear_prompt(self) -> None:
        if self._prompt:
            # Carriage return and erase-line (ECMA-48 EL), so output replaces the bare prompt.
            self._stdout.write("\r\x1b[K")


class _Conversation:
    """One open connection: send the input, print frames, and decide how it ends."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse[Literal[True]],
        options: ConnectOptions,
        stdin: TextIO,
        console: _Console,
    ) -> None:
        self._ws = ws
        self._options = options
        self._stdin = stdin
        self._console = console
        self._loop = asyncio.get_running_loop()
        self._last_frame_at = float("-inf")

    async def run(self) -> int:
        """Converse; return the exit status."""
        receiver = asyncio.create_task(self._receive())
        sender = asyncio.create_task(self._send())
        try:
            await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender.done():
                sender.result()  # an unexpected failure of the sender must not pass silently
                await self._drain(receiver)
            closed = receiver.result() if receiver.done() else None
            if closed is not None:
                self._console.note(f"closed: {closed.code} {closed.reason}".rstrip())
                normal = closed.code in _NORMAL_CLOSE_CODES
                return ExitCode.OK if normal else ExitCode.ABNORMAL_CLOSE
            # close() wakes a receiver still waiting on a frame, which then returns.
            await self._ws.close()
            return ExitCode.OK
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)

    async def _send(self) -> None:
        """Send the -x messages or stdin's lines; return when they are exhausted."""
        try:
            if self._options.execute:
                for message in self._options.execute:
                    await self._ws.send_str(message)
                return
            async with open_lines(self._stdin) as lines:
                self._console.prompt()
                while (line := await lines.readline()) is not None:
                    await self._ws.send_str(line)
                    self._console.prompt()
            self._console.end_prompt()
        except ConnectionResetError:
            # The connection is closing under us; the receiver reports why.
            return

    async def _receive(self) -> _ServerClose | None:
        """Print frames; return how the server closed, or None if we stop first."""
        received = 0
        while True:
            message = await self._ws.receive()
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self._console.frame(message.data)
                self._last_frame_at = self._loop.time()
                received += 1
                if self._options.count is not None and received >= self._options.count:
                    return None
            elif message.type is aiohttp.WSMsgType.CLOSE:
                return _ServerClose(message.data, message.extra or "")
            elif message.type is aiohttp.WSMsgType.ERROR:
                return _ServerClose(self._ws.close_code or _ABNORMAL_CLOSURE, str(message.data))
            elif message.type is aiohttp.WSMsgType.CLOSED:
                return _ServerClose(_ABNORMAL_CLOSURE, "connection lost")
            else:  # CLOSING: our own close() interrupted the wait
                return None

    async def _drain(self, receiver: asyncio.Task[_ServerClose | None]) -> None:
        """Once the input is exhausted, wait until no frame arrived for ``--wait`` seconds."""
        input_ended_at = self._loop.time()
        while not receiver.done():
            quiet_since = max(input_ended_at, self._last_frame_at)
            remaining = quiet_since + self._options.wait - self._loop.time()
            if remaining <= 0:
                return
            await asyncio.wait({receiver}, timeout=remaining)
