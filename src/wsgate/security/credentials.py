"""The access keys SigV4 requests are checked against, from an AWS credentials file or config.

An AWS-style credentials file (``~/.aws/credentials``) has one section per profile with
``aws_access_key_id``, ``aws_secret_access_key`` and optionally ``aws_session_token``; here a
section may also name its ``principal`` (an ARN or a user name), which defaults to the profile
name. Config lists the same as ``{accessKeyId, secretAccessKey, principal, sessionToken}``.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from wsgate.errors import ConfigError, ConfigIssue

__all__ = ["CredentialStore", "Credentials"]

_INI_KEYS: Final = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "principal"}
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """One access key: its secret, who it stands for, and the session token it requires.

    A key with a ``session_token`` (temporary credentials) only verifies when the request carries
    that token; a key without one refuses requests that carry any.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    principal: str
    session_token: str | None = field(default=None, repr=False)


class CredentialStore:
    """Credentials by access key id."""

    def __init__(self, credentials: Iterable[Credentials] = ()) -> None:
        self._by_key: dict[str, Credentials] = {}
        for item in credentials:
            if item.access_key_id in self._by_key:
                raise ValueError(f"access key {item.access_key_id!r} is listed twice")
            self._by_key[item.access_key_id] = item

    def get(self, access_key_id: str) -> Credentials | None:
        """The credentials of ``access_key_id``, or None when the key is unknown."""
        return self._by_key.get(access_key_id)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Credentials]:
        return iter(self._by_key.values())

    @classmethod
    def from_ini_file(cls, path: str | os.PathLike[str]) -> CredentialStore:
        """Load an AWS-style credentials file.

        Raises:
            ConfigError: the file cannot be read or parsed, or a profile is incomplete;
                ``source`` is the file's path.
        """
        source = os.fspath(path)
        try:
            with open(source, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            raise ConfigError(
                [ConfigIssue("", f"cannot read credentials: {reason}")], source
            ) from error
        return cls.from_ini_text(text, source)

    @classmethod
    def from_ini_text(cls, text: str, source: str = "") -> CredentialStore:
        """Parse the text of an AWS-style credentials file (see :meth:`from_ini_file`)."""
        # No interpolation: secrets may contain '%'.
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source or "<credentials>")
        except configparser.Error as error:
            raise ConfigError([ConfigIssue("", error.message)], source) from error
        issues: list[ConfigIssue] = []
        found: list[Credentials] = []
        for profile in parser.sections():
            section = parser[profile]
            issues.extend(
                ConfigIssue(f"[{profile}].{key}", "unknown key")
                for key in section
                if key not in _INI_KEYS
            )
            item = _credentials(
                f"[{profile}]",
                section.get("aws_access_key_id"),
                section.get("aws_secret_access_key"),
                section.get("principal", profile),
                section.get("aws_session_token"),
                ("aws_access_key_id", "aws_secret_access_key", "principal"),
                issues,
            )
            if item is not None:
                found.append(item)
        return cls._checked(found, issues, source)

    @classmethod
    def _checked(
        cls, found: list[Credentials], issues: list[ConfigIssue], source: str
    ) -> CredentialStore:
        seen: set[str] = set()
        for item in found:
            if item.access_key_id in seen:
                issues.append(ConfigIssue(item.access_key_id, "access key id is listed twice"))
            seen.add(item.access_key_id)
        if issues:
            raise ConfigError(issues, source)
        return cls(found)


def _credentials(
    where: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    principal: str | None,
    session_token: str | None,
    names: tuple[str, ...],
    issues: list[ConfigIssue],
) -> Credentials | None:
    """Credentials from the fields of one entry, or None after adding what is missing to issues."""
    missing = [
        ConfigIssue(f"{where}.{name}", "required")
        for name, value in zip(names, (access_key_id, secret_access_key, principal), strict=False)
        if not value
    ]
    issues.extend(missing)
    if missing or access_key_id is None or secret_access_key is None or principal is None:
        return None
    return Credentials(access_key_id, secret_access_key, principal, session_token or None)
