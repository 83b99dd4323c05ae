"""An environment without AWS setup: botocore's credential chain finds only what a test gives.

Without it a developer's ``~/.aws`` or ``AWS_*`` variables, or an EC2 instance role, would sign
requests that a test means to send unsigned (or with other keys).
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["isolate_aws"]

_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def isolate_aws(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Clear the AWS variables and point the shared files and the local wsgate key into
    ``folder`` (not created).

    Returns:
        ``folder``, where a test may write ``credentials`` and ``config`` files.
    """
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # No local wsgate key either, until a gateway started by the test makes one there.
    monkeypatch.setenv("WSGATE_HOME", str(folder / "wsgate"))
    return folder
