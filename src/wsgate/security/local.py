"""The secrets a gateway makes for its own machine: an access key for ``@connections`` and a
token for the admin listener.

``@connections`` needs SigV4 by default, as on AWS. So that local functions, the ``wsgate`` CLI
and scripts keep working with no configuration, the gateway accepts one local access key, hands
it to its functions' environment (boto3 signs with it unprompted) and keeps it where the CLI
finds it: ``$WSGATE_HOME`` (default ``~/.wsgate``), readable by its owner only:

- ``credentials``: an AWS shared-credentials file with the profile ``[wsgate]``, so that any
  SDK can use it (``AWS_SHARED_CREDENTIALS_FILE=~/.wsgate/credentials AWS_PROFILE=wsgate``);
- ``admin-token``: the token the admin listener asks for, as a bearer token or a cookie.

Both are made on first use and kept: restarts and other gateways of the same user share them.
Nodes on several machines share them by sharing the folder's contents.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wsgate.errors import ConfigError, ConfigIssue
from wsgate.security.credentials import Credentials

__all__ = [
    "LOCAL_PRINCIPAL",
    "LOCAL_PROFILE",
    "LocalSecrets",
    "is_loopback_host",
    "load_local_secrets",
    "wsgate_home",
]

LOCAL_PROFILE: Final = "wsgate"
LOCAL_PRINCIPAL: Final = "arn:aws:iam::000000000000:user/wsgate-local"
_CREDENTIALS_FILE: Final = "credentials"
_TOKEN_FILE: Final = "admin-token"
# AWS's shapes: a 20-character key id starting with AKIA, a 40-character secret.
_KEY_ALPHABET: Final = string.ascii_uppercase + string.digits
_SECRET_ALPHABET: Final = string.ascii_letters + string.digits + "/+"


@dataclass(frozen=True, slots=True)
class LocalSecrets:
    """This machine's access key for ``@connections`` and token for the admin listener."""

    access_key_id: str
    secret_access_key: str
    admin_token: str
    home: Path

    @property
    def credentials(self) -> Credentials:
        """The access key as the gateway checks signatures against it."""
        return Credentials(self.access_key_id, self.secret_access_key, LOCAL_PRINCIPAL)

    @property
    def credentials_file(self) -> Path:
        """Where the access key is kept, as an AWS shared-credentials file."""
        return self.home / _CREDENTIALS_FILE


def wsgate_home() -> Path:
    """``$WSGATE_HOME``, else ``~/.wsgate``."""
    configured = os.environ.get("WSGATE_HOME")
    return Path(configured) if configured else Path.home() / ".wsgate"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine's loopback (``localhost`` or a loopback address):
    where the local secrets may go without being asked for, and whence they need not be."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_local_secrets(home: Path | None = None, *, create: bool = True) -> LocalSecrets | None:
    """Read this machine's secrets, making them first when ``create`` (else None if absent).

    Raises:
        ConfigError: the folder or a file cannot be made or read, or a file is malformed.
    """
    home = home if home is not None else wsgate_home()
    try:
        key = _read_or_make(home / _CREDENTIALS_FILE, _new_credentials_file, create)
        token = _read_or_make(home / _TOKEN_FILE, _new_token_file, create)
    except OSError as error:
        issue = ConfigIssue("", f"cannot keep local secrets: {error.strerror or error}")
        raise ConfigError([issue], str(error.filename or home)) from error
    if key is None or token is None:
        return None
    access_key_id, secret_access_key = _parse_credentials(key, home / _CREDENTIALS_FILE)
    return LocalSecrets(access_key_id, secret_access_key, token.strip(), home)


def _read_or_make(path: Path, make: Callable[[], str], create: bool) -> str | None:
    """The file's text; a new file (owner-only) when it is absent and ``create``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = make()
    # Written aside, then linked into place: a gateway starting at the same moment either
    # wins the link or reads the winner's whole file, never half of one.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    try:
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink()
    return path.read_text(encoding="utf-8")


def _new_credentials_file() -> str:
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return (
        "# wsgate's local access key: local gateways accept it for @connections.\n"
        f"[{LOCAL_PROFILE}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    )


def _new_token_file() -> str:
    return secrets.token_urlsafe(32) + "\n"


def _parse_credentials(text: str, path: Path) -> tuple[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, str(path))
        section = parser[LOCAL_PROFILE]
        return section["aws_access_key_id"], section["aws_secret_access_key"]
    except (configparser.Error, KeyError) as error:
        issue = ConfigIssue("", f"not a credentials file with a [{LOCAL_PROFILE}] profile")
        raise ConfigError([issue], str(path)) from error
