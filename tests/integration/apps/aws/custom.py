"""Functions behind Lambda custom (non-proxy) integrations: they get what a template renders."""

from __future__ import annotations

from typing import Any


def handle(event: Any, context: Any) -> Any:
    """Echo the event; fail as asked (``bad`` and ``boom``), refuse ``token=bad`` on $connect."""
    text = event.get("text") if isinstance(event, dict) else None
    if isinstance(event, dict) and event.get("eventType") == "CONNECT":
        if event.get("token") == "bad":
            raise PermissionError("Unauthorized: bad token")
        return {"welcome": event.get("connectionId")}
    if text == "bad":
        raise ValueError(f"Bad input: {text}")
    if text == "boom":
        raise RuntimeError("boom")
    return {"received": event, "function": context.function_name}
