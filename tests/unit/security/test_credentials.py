"""Credential stores from AWS credentials files and from config entries."""

from __future__ import annotations

import dataclasses

import pytest

from wsgate.errors import ConfigError, ConfigIssue
from wsgate.security.credentials import Credentials, CredentialStore

CREDENTIALS_FILE = """\
[default]
aws_access_key_id = AKIDEXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY%

[ci]
aws_access_key_id = ASIAEXAMPLE
aws_secret_access_key = temporary
aws_session_token = FwoGZXIvYXdzE==
principal = arn:aws:sts::123456789012:assumed-role/ci/run
"""


def test_credentials_hide_their_secrets():
    item = Credentials("AKID", "s3cret", "alice", "t0ken")
    assert "s3cret" not in repr(item) and "t0ken" not in repr(item)
    assert "AKID" in repr(item) and "alice" in repr(item)
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.principal = "bob"  # type: ignore[misc]


def test_store_lookup():
    alice = Credentials("AKID1", "s", "alice")
    store = CredentialStore([alice])
    assert store.get("AKID1") is alice
    assert store.get("AKID2") is None
    assert len(store) == 1 and list(store) == [alice]
    assert len(CredentialStore()) == 0


def test_store_refuses_duplicate_keys():
    with pytest.raises(ValueError, match="AKID1"):
        CredentialStore([Credentials("AKID1", "a", "x"), Credentials("AKID1", "b", "y")])


def test_ini_file(tmp_path):
    path = tmp_path / "credentials"
    path.write_text(CREDENTIALS_FILE, encoding="utf-8")
    store = CredentialStore.from_ini_file(path)
    assert store.get("AKIDEXAMPLE") == Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY%", "default", None
    )
    assert store.get("ASIAEXAMPLE") == Credentials(
        "ASIAEXAMPLE",
        "temporary",
        "arn:aws:sts::123456789012:assumed-role/ci/run",
        "FwoGZXIvYXdzE==",
    )


def test_ini_file_missing(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(ConfigError) as caught:
        CredentialStore.from_ini_file(path)
    assert caught.value.source == str(path)
    assert "cannot read credentials: No such file or directory" in str(caught.value)


def test_ini_file_not_utf8(tmp_path):
    path = tmp_path / "credentials"
    path.write_bytes(b"[default]\naws_access_key_id = \xff\n")
    with pytest.raises(ConfigError, match="cannot read credentials"):
        CredentialStore.from_ini_file(path)


@pytest.mark.parametrize(
    ("text", "issues"),
    [
        ("aws_access_key_id = x\n", None),
        (
            "[p]\naws_access_key_id = A\n",
            [ConfigIssue("[p].aws_secret_access_key", "required")],
        ),
        (
            "[p]\naws_access_key_id = A\naws_secret_access_key = s\nregion = us-east-1\n",
            [ConfigIssue("[p].region", "unknown key")],
        ),
        (
            "[p]\naws_access_key_id = A\naws_secret_access_key = s\nprincipal =\n",
            [ConfigIssue("[p].principal", "required")],
        ),
        (
            "[a]\naws_access_key_id = A\naws_secret_access_key = s\n"
            "[b]\naws_access_key_id = A\naws_secret_access_key = t\n",
            [ConfigIssue("A", "access key id is listed twice")],
        ),
    ],
    ids=["no-section", "no-secret", "unknown-key", "empty-principal", "duplicate"],
)
def test_ini_problems(text, issues):
    with pytest.raises(ConfigError) as caught:
        CredentialStore.from_ini_text(text, "creds.ini")
    assert caught.value.source == "creds.ini"
    if issues is not None:
        assert caught.value.issues == issues


def test_ini_empty_token_is_no_token():
    text = "[p]\naws_access_key_id = A\naws_secret_access_key = s\naws_session_token =\n"
    store = CredentialStore.from_ini_text(text)
    assert store.get("A") == Credentials("A", "s", "p", None)
