"""Command-line clients for a running gateway (or for Amazon API Gateway itself).

- :mod:`wsgate.clients.ws`: ``wsgate connect``, an interactive WebSocket client in the spirit
  of wscat.
- :mod:`wsgate.clients.management`: ``wsgate post|get|delete``, the ``@connections``
  management API through botocore's own ``apigatewaymanagementapi`` client, set up (credentials,
  region, no retries) by :mod:`wsgate.clients.aws`.
- :mod:`wsgate.clients.traces`: ``wsgate trace`` and ``wsgate logs``, read from the admin
  listener.

Each module registers its subcommands on the caller's argparse subparsers and sets ``func`` to
a synchronous ``(argparse.Namespace) -> int`` that returns the exit status. The ``run_*``
functions behind them take their streams as arguments so tests can drive them directly: the
asyncio ones (``run_connect``, ``run_trace``, ``run_logs``) are coroutines, while
``run_management`` is a plain function, since botocore is synchronous and one command makes
one request.

Exit statuses share one scheme: 0 success, 1 the other end cannot be reached (or, for
``trace``/``logs``, serves no traces there), 2 a usage error as argparse reports them, and 3
and 4 for the answers each command singles out (see each ``--help``).
"""

from __future__ import annotations

import argparse

from wsgate import __version__

__all__ = ["USER_AGENT", "non_negative_float", "positive_float", "positive_int"]

# Identifies our clients in a gateway's logs and in requestContext.identity.userAgent.
USER_AGENT = f"wsgate/{__version__}"


def positive_int(text: str) -> int:
    """Argparse type for a count such as ``--count``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """Argparse type for a duration that must pass, such as ``--timeout``."""
    value = _parse_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """Argparse type for a duration that may be zero, such as ``--wait``."""
    value = _parse_float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")  # fails every comparison, so the caller's check rejects it
