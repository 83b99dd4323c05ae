"""The functions' listener's certificate and the CA files that make functions trust it."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from wsgate.errors import TlsError
from wsgate.security.callback_tls import prepare_callback_tls, public_authorities
from wsgate.security.certs import CA_CERT_FILE, ensure_ca

NAME = "abc123defg.execute-api.us-east-1.amazonaws.com"


def test_the_bundle_adds_the_local_ca_to_the_usual_authorities(tmp_path: Path) -> None:
    tls = prepare_callback_tls(tmp_path, [NAME, "127.0.0.1"])
    local_ca = (tmp_path / "tls" / CA_CERT_FILE).read_bytes()
    bundle = tls.ca_bundle.read_bytes()
    assert bundle.startswith(public_authorities().rstrip(b"\n"))
    assert bundle.endswith(local_ca)
    assert tls.extra_ca.read_bytes() == local_ca
    # Nothing but the CA files is left: the listener's key lives in its context only.
    left = {path.name for path in (tmp_path / "tls").iterdir()}
    assert left == {CA_CERT_FILE, "ca-key.pem", tls.ca_bundle.name, tls.extra_ca.name}


def test_another_start_reuses_the_ca_and_the_files(tmp_path: Path) -> None:
    first = prepare_callback_tls(tmp_path, [NAME])
    second = prepare_callback_tls(tmp_path, [NAME, "localhost"])
    assert (first.ca_bundle, first.extra_ca) == (second.ca_bundle, second.extra_ca)


def test_an_extra_ca_joins_both_files(tmp_path: Path) -> None:
    other, _ = ensure_ca(tmp_path / "other")
    tls = prepare_callback_tls(tmp_path, [NAME], [str(other)])
    assert tls.extra_ca.read_bytes().endswith(other.read_bytes())
    assert tls.ca_bundle.read_bytes().endswith(other.read_bytes())


def test_an_unreadable_extra_ca_is_a_tls_error(tmp_path: Path) -> None:
    with pytest.raises(TlsError):
        prepare_callback_tls(tmp_path, [NAME], [str(tmp_path / "missing.pem")])


async def test_clients_that_trust_the_bundle_verify_the_names(tmp_path: Path) -> None:
    tls = prepare_callback_tls(tmp_path, [NAME, "127.0.0.1"])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=tls.context)
    port = server.sockets[0].getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(tls.ca_bundle))
    try:
        for name in (NAME, "127.0.0.1"):
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=trusted, server_hostname=name
            )
            certificate = writer.get_extra_info("peercert")
            assert certificate is not None
            writer.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1",
                port,
                ssl=trusted,
                server_hostname="other.execute-api.us-east-1.amazonaws.com",
            )
    finally:
        server.close()
        await server.wait_closed()
