"""Structured logs: one JSON object per line on stderr, or readable text on a terminal.

Events carry their fields in ``extra={"fields": {...}}``; the formatter puts them beside the
time, level, logger and message, so a log line is one record a machine can filter.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from typing import Any, Final, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "bounded_traceback", "configure_logging", "log_event"]

_RESERVED: Final = "fields"


def log_event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` when ``level`` is enabled."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={_RESERVED: fields})


class JsonFormatter(logging.Formatter):
    """``{"time": ..., "level": ..., "logger": ..., "message": ..., <fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a JSON line."""
        document: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(getattr(record, _RESERVED, None) or {})
        if record.exc_info:
            document["exception"] = bounded_traceback(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``12:00:01.123 INFO  message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a readable line."""
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = getattr(record, _RESERVED, None) or {}
        extras = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        line = f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {record.getMessage()}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{bounded_traceback(record.exc_info)}"
        return line


def bounded_traceback(exc_info: Any) -> str:
    """A traceback of at most :data:`_TRACEBACK_FRAMES` frames per exception (the innermost)
    and :data:`_TRACEBACK_CHARS` characters: a client must not be able to make every message
    log a huge one (a RecursionError's thousand frames, say)."""
    _, error, _ = exc_info
    if error is None:
        return ""
    text = "".join(traceback.format_exception(error, limit=-_TRACEBACK_FRAMES)).rstrip("\n")
    if len(text) > _TRACEBACK_CHARS:
        # Keep the end: the innermost frames and the error itself.
        text = "[... traceback cut ...]\n" + text[-_TRACEBACK_CHARS:]
    return text


_TRACEBACK_FRAMES: Final = 20
_TRACEBACK_CHARS: Final = 8192


def _iso_time(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


def configure_logging(
    level: str | int = "info", *, json_lines: bool | None = None, stream: TextIO | None = None
) -> None:
    """Send wsgate's logs to ``stream`` (stderr): JSON lines unless it is a terminal."""
    target = stream if stream is not None else sys.stderr
    if json_lines is None:
        json_lines = not target.isatty()
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger("wsgate")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    root.propagate = False
