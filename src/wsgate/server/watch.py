"""``wsgate serve --watch``: an edited config file (or template) applies without a restart.

A saved file is read again with the same loader and flags as at start. A valid version is
served as a control plane deployment is (:meth:`Gateway.redeploy`): new connections and the
next message of open ones meet it, calls under way finish as they started, nothing is closed.
An invalid version is refused with every error it has, and the running one stays. What the
gateway built its listeners, registry, keys and logs from (``_AT_START``) cannot change under
open sockets: a change there is reported and waits for a restart, while the rest applies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final

from watchfiles import Change, awatch

from wsgate.config.model import ApiConfig
from wsgate.errors import ConfigError
from wsgate.server.app import Gateway

__all__ = ["watch_config"]

logger = logging.getLogger(__name__)

# Read once, at start: the listeners, the registry's keys, the signing keys, the names in
# events and the access logs' files.
_AT_START: Final = (
    "server",
    "iam",
    "api_id",
    "region",
    "account_id",
    "groups_from_authorizer",
)


async def watch_config(
    path: Path,
    load: Callable[[], ApiConfig],
    gateway: Gateway,
    stop: asyncio.Event,
    *,
    debounce_ms: int = 200,
) -> None:
    """Serve each valid saved version of ``path`` until ``stop`` is set.

    Args:
        path: the file given to ``serve``.
        load: reads it as at start (flags applied); raises ``ConfigError``.
        gateway: the running gateway.
        stop: ends the watch.
        debounce_ms: changes closer together than this are read once.
    """
    path = path.resolve()

    def saved(change: Change, changed: str) -> bool:
        # The folder is watched, not the file: editors save by replacing it.
        return change != Change.deleted and Path(changed).resolve() == path

    async for _ in awatch(
        path.parent, watch_filter=saved, stop_event=stop, debounce=debounce_ms, recursive=False
    ):
        await apply_saved(path, load, gateway)


async def apply_saved(path: Path, load: Callable[[], ApiConfig], gateway: Gateway) -> bool:
    """Read ``path`` again and serve it; False when it is refused (and the old one stays)."""
    try:
        config = load()
    except ConfigError as error:
        logger.error("%s: not applied, the running version stays:\n%s", path, error)
        return False
    running = gateway.config
    config, held = _held_at_start(config, running)
    if held:
        logger.warning(
            "%s: %s changed; that applies at the next start, the rest now", path, ", ".join(held)
        )
    if config == running:
        return True
    try:
        await gateway.redeploy(config)
    except ConfigError as error:  # e.g. a runtime that cannot start here
        logger.error("%s: not applied, the running version stays:\n%s", path, error)
        return False
    logger.info("%s: applied; open connections meet it at their next message", path)
    return True


def _held_at_start(config: ApiConfig, running: ApiConfig) -> tuple[ApiConfig, list[str]]:
    """``config`` with the running values of what applies at start only, and what differed."""
    held = [name for name in _AT_START if getattr(config, name) != getattr(running, name)]
    update: dict[str, object] = {name: getattr(running, name) for name in held}
    stages = dict(config.stages)
    for name, stage in config.stages.items():
        before = running.stages[name].access_log_settings if name in running.stages else None
        if stage.access_log_settings != before:
            held.append(f"stages.{name}.accessLogSettings")
            stages[name] = stage.model_copy(update={"access_log_settings": before})
    update["stages"] = stages
    return config.model_copy(update=update), held
