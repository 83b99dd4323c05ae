"""The local access key and admin token: made once, owner-only, shared by every reader."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from wsgate.errors import ConfigError
from wsgate.security.local import (
    LOCAL_PRINCIPAL,
    is_loopback_host,
    load_local_secrets,
    wsgate_home,
)


def test_made_on_first_use_and_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert load_local_secrets(home, create=False) is None
    made = load_local_secrets(home)
    assert made is not None
    assert made.access_key_id.startswith("AKIA") and len(made.access_key_id) == 20
    assert len(made.secret_access_key) == 40
    assert len(made.admin_token) >= 40
    assert made.credentials.principal == LOCAL_PRINCIPAL
    assert load_local_secrets(home) == made
    assert load_local_secrets(home, create=False) == made
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("credentials", "admin-token"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    # Any SDK can read the key: an AWS shared-credentials file with the wsgate profile.
    text = made.credentials_file.read_text()
    assert f"[wsgate]\naws_access_key_id = {made.access_key_id}\n" in text
    assert {p.name for p in home.iterdir()} == {"credentials", "admin-token"}


def test_gateways_starting_together_agree(tmp_path: Path) -> None:
    home = tmp_path / "home"
    found: list[object] = []
    threads = [
        threading.Thread(target=lambda: found.append(load_local_secrets(home))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and all(item == found[0] for item in found)
    assert {p.name for p in home.iterdir()} == {"credentials", "admin-token"}


def test_a_broken_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "credentials").write_text("[other]\naws_access_key_id = x\n")
    with pytest.raises(ConfigError, match=r"\[wsgate\] profile"):
        load_local_secrets(home)


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("")
    with pytest.raises(ConfigError, match="cannot keep local secrets"):
        load_local_secrets(regular / "home")


def test_home_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WSGATE_HOME", str(tmp_path))
    assert wsgate_home() == tmp_path
    monkeypatch.delenv("WSGATE_HOME")
    assert wsgate_home() == Path.home() / ".wsgate"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
