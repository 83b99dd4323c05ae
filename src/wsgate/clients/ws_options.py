"""What ``wsgate connect`` is asked to do, and how it prints a frame: plain values, no I/O.

:class:`ConnectOptions` is the parsed command line; :func:`parse_header` and
:func:`parse_ws_url` check its options as argparse reads them, and :func:`format_frame` renders
a received frame in the chosen :data:`OutputMode`.
"""

from __future__ import annotations

import argparse
import base64
import json
from dataclasses import dataclass
from typing import Literal

import yarl

__all__ = ["ConnectOptions", "OutputMode", "format_frame", "parse_header", "parse_ws_url"]

OutputMode = Literal["text", "raw", "json"]


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """What ``wsgate connect`` was asked to do; the parsed command line."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    origin: str | None = None
    execute: tuple[str, ...] = ()
    wait: float = 2.0
    count: int | None = None
    timeout: float = 10.0
    output: OutputMode = "text"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ConnectOptions:
        """Build options from the namespace :func:`add_parser`'s parser produces."""
        return cls(
            url=args.url,
            headers=tuple(args.headers),
            subprotocols=tuple(args.subprotocols),
            origin=args.origin,
            execute=tuple(args.execute),
            wait=args.wait,
            count=args.count,
            timeout=args.timeout,
            output=args.output,
        )


def parse_header(text: str) -> tuple[str, str]:
    """Split a ``"Name: value"`` option into its name and value.

    Raises:
        argparse.ArgumentTypeError: there is no colon or the name is empty or holds spaces.
    """
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(char.isspace() for char in name):
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name, value.strip()


def parse_ws_url(text: str) -> str:
    """Validate a WebSocket URL; a bare ``host:port/path`` means ``ws://`` as in wscat.

    Raises:
        argparse.ArgumentTypeError: the scheme is not ws, wss, http or https, or no host.
    """
    if "://" not in text:
        text = f"ws://{text}"
    try:
        url = yarl.URL(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid URL {text!r}: {exc}") from exc
    if url.scheme not in {"ws", "wss", "http", "https"} or not url.host:
        raise argparse.ArgumentTypeError(f"expected a ws:// or wss:// URL, got {text!r}")
    return text


def format_frame(data: str | bytes, mode: OutputMode) -> str:
    """Render one received frame (``str`` for text, ``bytes`` for binary) as an output line."""
    if mode == "json":
        if isinstance(data, str):
            return json.dumps({"type": "text", "data": data}, ensure_ascii=False)
        return json.dumps({"type": "binary", "data": base64.b64encode(data).decode()})
    if isinstance(data, str):
        return data if mode == "raw" else f"< {data}"
    encoded = base64.b64encode(data).decode()
    return encoded if mode == "raw" else f"< [binary {len(data)} bytes] {encoded}".rstrip()
