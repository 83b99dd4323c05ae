"""wsgate: a self-hosted WebSocket API gateway compatible with Amazon API Gateway WebSocket APIs."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
