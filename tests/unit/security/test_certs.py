"""Local CA and server certificates, and a loopback TLS server that clients verify with them."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers import UNIT, eventually
from wsgate.errors import SignatureError, TlsError
from wsgate.security.certs import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    SERVER_CERT_FILE,
    SERVER_CHAIN_FILE,
    SERVER_KEY_FILE,
    SERVER_VALIDITY,
    ensure_ca,
    issue_certificate,
    server_ssl_context,
)
from wsgate.security.sigv4 import Credentials, CredentialStore, error_response, verify

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _extension(cert, kind):
    return cert.extensions.get_extension_for_class(kind)


# --- the CA --------------------------------------------------------------------------------------


def test_ensure_ca_creates_a_ca(tmp_path):
    folder = tmp_path / "tls"
    cert_path, key_path = ensure_ca(folder, now=NOW)
    assert (cert_path, key_path) == (folder / CA_CERT_FILE, folder / CA_KEY_FILE)
    assert _mode(folder) == 0o700
    assert _mode(key_path) == 0o600
    assert _mode(cert_path) == 0o644
    cert = _cert(cert_path)
    constraints = _extension(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = _extension(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=3650)
    assert cert.not_valid_before_utc < NOW
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    cert.verify_directly_issued_by(cert)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)


def test_ensure_ca_reuses_the_existing_one(tmp_path):
    first = ensure_ca(tmp_path)
    before = [path.read_bytes() for path in first]
    assert ensure_ca(tmp_path) == first
    assert [path.read_bytes() for path in first] == before


@pytest.mark.parametrize("keep", [CA_CERT_FILE, CA_KEY_FILE])
def test_half_a_ca_is_an_error(tmp_path, keep):
    ensure_ca(tmp_path)
    lost = CA_KEY_FILE if keep == CA_CERT_FILE else CA_CERT_FILE
    (tmp_path / lost).unlink()
    with pytest.raises(TlsError) as caught:
        ensure_ca(tmp_path)
    assert caught.value.path == str(tmp_path / lost)
    assert f"missing while {keep} exists" in caught.value.reason


def test_a_ca_with_someone_elses_key_is_an_error(tmp_path):
    ensure_ca(tmp_path / "a")
    ensure_ca(tmp_path / "b")
    (tmp_path / "a" / CA_KEY_FILE).write_bytes((tmp_path / "b" / CA_KEY_FILE).read_bytes())
    with pytest.raises(TlsError, match="the key does not belong to the certificate"):
        ensure_ca(tmp_path / "a")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ((CA_CERT_FILE, b"not a certificate"), "no PEM certificate in the file"),
        ((CA_KEY_FILE, b"not a key"), "not an unencrypted PEM private key"),
    ],
)
def test_damaged_ca_files(tmp_path, damage, reason):
    ensure_ca(tmp_path)
    name, content = damage
    (tmp_path / name).write_bytes(content)
    with pytest.raises(TlsError) as caught:
        ensure_ca(tmp_path)
    assert (caught.value.path, caught.value.reason) == (str(tmp_path / name), reason)


def test_encrypted_key_is_refused(tmp_path):
    _, key_path = ensure_ca(tmp_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
    )
    with pytest.raises(TlsError, match="not an unencrypted PEM private key"):
        ensure_ca(tmp_path)


def test_unreadable_ca(tmp_path):
    cert_path, _ = ensure_ca(tmp_path)
    cert_path.unlink()
    cert_path.mkdir()  # reading a directory fails the same way for every user, root included
    with pytest.raises(TlsError) as caught:
        ensure_ca(tmp_path)
    assert caught.value.reason.startswith("cannot read: ")


def test_ca_directory_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TlsError) as caught:
        ensure_ca(tmp_path / "file" / "tls")
    assert caught.value.reason.startswith("cannot write: ")
    assert not (tmp_path / "file" / "tls").exists()


# --- server certificates -------------------------------------------------------------------------


def test_issue_certificate(tmp_path):
    ca = ensure_ca(tmp_path / "ca", now=NOW)
    names = ["localhost", "127.0.0.1", "::1", "[fe80::1]", "API.Example.test.", "*.example.test"]
    cert_path, key_path = issue_certificate(tmp_path / "srv", names, ca, now=NOW)
    assert (cert_path, key_path) == (
        tmp_path / "srv" / SERVER_CHAIN_FILE,
        tmp_path / "srv" / SERVER_KEY_FILE,
    )
    assert _mode(key_path) == 0o600
    leaf = _cert(tmp_path / "srv" / SERVER_CERT_FILE)
    ca_cert = _cert(ca[0])
    leaf.verify_directly_issued_by(ca_cert)
    chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    assert chain == [leaf, ca_cert]

    names_extension = _extension(leaf, x509.SubjectAlternativeName)
    assert not names_extension.critical
    assert names_extension.value.get_values_for_type(x509.DNSName) == [
        "localhost",
        "api.example.test",
        "*.example.test",
    ]
    assert names_extension.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("fe80::1"),
    ]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    assert _extension(leaf, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    constraints = _extension(leaf, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    assert not _extension(leaf, x509.KeyUsage).value.key_cert_sign
    validity = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert validity == SERVER_VALIDITY <= timedelta(days=397)
    assert leaf.not_valid_before_utc < NOW
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert key.public_key() == leaf.public_key()
    assert _extension(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == (
        _extension(ca_cert, x509.SubjectKeyIdentifier).value.digest
    )


def test_internationalised_name_and_long_first_name(tmp_path):
    ca = ensure_ca(tmp_path)
    long_name = ".".join(["a" * 30] * 3)
    issue_certificate(tmp_path, [long_name, "bücher.example"], ca)
    leaf = _cert(tmp_path / SERVER_CERT_FILE)
    assert len(leaf.subject) == 0  # a 92-character common name is not allowed
    names_extension = _extension(leaf, x509.SubjectAlternativeName)
    assert names_extension.critical  # required when the subject is empty
    assert names_extension.value.get_values_for_type(x509.DNSName) == [
        long_name,
        "xn--bcher-kva.example",
    ]


def test_reissuing_replaces_the_files(tmp_path):
    ca = ensure_ca(tmp_path)
    _, key_path = issue_certificate(tmp_path, ["one.test"], ca)
    first = key_path.read_bytes()
    issue_certificate(tmp_path, ["two.test"], ca)
    assert key_path.read_bytes() != first
    leaf = _cert(tmp_path / SERVER_CERT_FILE)
    assert _extension(leaf, x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["two.test"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_CHAIN_FILE, SERVER_KEY_FILE]
    )


@pytest.mark.parametrize("name", ["", "bad name", "a..b", "x/y", "_" * 64 + ".test", "[::1"])
def test_names_that_are_neither_hosts_nor_addresses(tmp_path, name):
    ca = ensure_ca(tmp_path)
    with pytest.raises(TlsError) as caught:
        issue_certificate(tmp_path, ["ok.test", name], ca)
    assert (caught.value.path, caught.value.reason) == (name, "not a host name or an IP address")


def test_issue_needs_names(tmp_path):
    with pytest.raises(TlsError, match="at least one name"):
        issue_certificate(tmp_path, [], ensure_ca(tmp_path))


@pytest.mark.parametrize("validity", [timedelta(0), SERVER_VALIDITY + timedelta(seconds=1)])
def test_issue_validity_is_bounded(tmp_path, validity):
    with pytest.raises(TlsError, match="validity must be within 397 days"):
        issue_certificate(tmp_path, ["a.test"], ensure_ca(tmp_path), validity=validity)


def test_issue_with_a_missing_ca(tmp_path):
    with pytest.raises(TlsError, match="cannot read"):
        issue_certificate(tmp_path, ["a.test"], (tmp_path / "ca.pem", tmp_path / "ca-key.pem"))


def _self_signed(tmp_path, key, algorithm):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, algorithm)
    )
    cert_path, key_path = tmp_path / "other.pem", tmp_path / "other-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_an_rsa_ca_of_ones_own_can_issue(tmp_path):
    ca = _self_signed(tmp_path, rsa.generate_private_key(65537, 2048), hashes.SHA256())
    issue_certificate(tmp_path, ["a.test"], ca, now=NOW)
    _cert(tmp_path / SERVER_CERT_FILE).verify_directly_issued_by(_cert(ca[0]))


def test_a_ca_key_that_cannot_sign_certificates(tmp_path):
    ca = _self_signed(tmp_path, ed25519.Ed25519PrivateKey.generate(), None)
    with pytest.raises(TlsError, match="the CA key must be an EC or RSA key"):
        issue_certificate(tmp_path, ["a.test"], ca)


def test_write_failure_leaves_no_temporary_files(tmp_path):
    ca = ensure_ca(tmp_path / "ca")
    (tmp_path / "srv" / SERVER_KEY_FILE).mkdir(parents=True)
    with pytest.raises(TlsError) as caught:
        issue_certificate(tmp_path / "srv", ["a.test"], ca)
    assert caught.value.path == str(tmp_path / "srv" / SERVER_KEY_FILE)
    assert [p.name for p in (tmp_path / "srv").iterdir()] == [SERVER_KEY_FILE]


# --- server contexts -----------------------------------------------------------------------------


def test_server_ssl_context(tmp_path):
    cert_path, key_path = issue_certificate(tmp_path, ["localhost"], ensure_ca(tmp_path))
    context = server_ssl_context(cert_path, key_path)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


def test_server_context_errors(tmp_path):
    ca = ensure_ca(tmp_path / "ca")
    cert_path, key_path = issue_certificate(tmp_path, ["localhost"], ca)
    with pytest.raises(TlsError, match="No such file or directory"):
        server_ssl_context(tmp_path / "missing.pem", key_path)
    with pytest.raises(TlsError, match="the key does not belong to the certificate"):
        server_ssl_context(cert_path, ca[1])
    with pytest.raises(TlsError, match="no PEM certificate"):
        server_ssl_context(key_path, key_path)


def test_server_context_refuses_certificates_out_of_date(tmp_path):
    ca = ensure_ca(tmp_path, now=NOW)
    cert_path, key_path = issue_certificate(tmp_path, ["localhost"], ca, now=NOW)
    assert server_ssl_context(cert_path, key_path, now=NOW)
    with pytest.raises(TlsError, match="certificate expired on"):
        server_ssl_context(cert_path, key_path, now=NOW + timedelta(days=398))
    with pytest.raises(TlsError, match="certificate is not valid before"):
        server_ssl_context(cert_path, key_path, now=NOW - timedelta(hours=1))


def test_server_context_reports_what_openssl_refuses(tmp_path):
    cert_path, key_path = _self_signed(
        tmp_path, rsa.generate_private_key(65537, 1024), hashes.SHA256()
    )
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_cert_chain(cert_path, key_path)
    except ssl.SSLError:
        pass
    else:
        pytest.skip("this OpenSSL's security level accepts 1024-bit RSA keys")
    with pytest.raises(TlsError) as caught:
        server_ssl_context(cert_path, key_path, now=NOW)
    assert caught.value.reason.startswith("cannot load: ")


# --- over a real socket --------------------------------------------------------------------------

CLIENT_KEY = Credentials("AKIDEXAMPLE", "secret/key", "arn:aws:iam::123456789012:user/lambda")


async def _tls_server(tmp_path, handler) -> AsyncIterator[tuple[int, str]]:
    ca_cert, _ = ca = ensure_ca(tmp_path / "ca")
    context = server_ssl_context(
        *issue_certificate(tmp_path, ["localhost", "127.0.0.1", "::1"], ca)
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        yield runner.addresses[0][1], str(ca_cert)
        # Let the server see its clients hang up: a TLS transport torn down while it is still
        # answering a peer's close is left unclosed by Python 3.11's asyncio.
        await eventually(lambda: runner.server is None or not runner.server.connections)
    finally:
        await runner.cleanup()


@pytest.fixture
async def tls_server(tmp_path):
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async for server in _tls_server(tmp_path, hello):
        yield server


async def _get(url: str, context: ssl.SSLContext | None = None, **kwargs) -> str:
    timeout = aiohttp.ClientTimeout(total=10 * UNIT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, ssl=context if context is not None else True, **kwargs) as reply,
    ):
        return await reply.text()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_clients_trusting_the_ca_verify_the_server(tls_server, host):
    port, ca = tls_server
    trusting = ssl.create_default_context(cafile=ca)
    assert trusting.check_hostname and trusting.verify_mode == ssl.CERT_REQUIRED
    assert await _get(f"https://{host}:{port}/", trusting) == "hello"


async def test_clients_with_default_trust_refuse_the_server(tls_server):
    port, _ = tls_server
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _get(f"https://127.0.0.1:{port}/")


async def test_a_name_not_in_the_certificate_is_refused(tls_server):
    port, ca = tls_server
    trusting = ssl.create_default_context(cafile=ca)
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _get(f"https://127.0.0.1:{port}/", trusting, server_hostname="api.example.com")


async def test_boto3_over_tls_with_a_signed_request(tmp_path, monkeypatch):
    """A handler's boto3 client reaches a TLS endpoint through AWS_CA_BUNDLE; SigV4 verifies."""
    store = CredentialStore([CLIENT_KEY])
    seen: list[str] = []

    async def connections(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            who = verify(
                request.method,
                request.raw_path,
                request.headers,
                body,
                store,
                "eu-west-1",
                datetime.now(UTC),
            )
        except SignatureError as error:
            status, headers, payload = error_response(error)
            return web.Response(status=status, headers=headers, body=payload)
        seen.append(f"{request.method} {request.raw_path} {body!r} {who.principal}")
        if request.method == "GET":
            return web.json_response(
                {
                    "connectedAt": "2025-03-01T12:00:00.000Z",
                    "identity": {"sourceIp": "127.0.0.1", "userAgent": None},
                    "lastActiveAt": "2025-03-01T12:00:01.000Z",
                }
            )
        return web.json_response({})

    async for port, ca in _tls_server(tmp_path, connections):
        monkeypatch.setenv("AWS_CA_BUNDLE", ca)
        endpoint = f"https://localhost:{port}/dev"
        api = _management_client(endpoint, CLIENT_KEY.secret_access_key)
        wrong = _management_client(endpoint, "wrong")
        try:
            info = await asyncio.to_thread(api.get_connection, ConnectionId="L0SM9cOFvHcCIhw=")
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
            await asyncio.to_thread(api.post_to_connection, ConnectionId="a/b=", Data=b"hi")
            with pytest.raises(ClientError) as caught:
                await asyncio.to_thread(wrong.get_connection, ConnectionId="x=")
            refusal = caught.value.response
            # The traceback holds botocore's raw response and, through it, the connection.
            del caught
        finally:
            # Close the kept-alive connections before the server goes, so its side closes cleanly.
            api.close()
            wrong.close()
        assert seen == [
            "GET /dev/@connections/L0SM9cOFvHcCIhw%3D b'' arn:aws:iam::123456789012:user/lambda",
            "POST /dev/@connections/a%2Fb%3D b'hi' arn:aws:iam::123456789012:user/lambda",
        ]
        assert refusal["Error"]["Code"] == "InvalidSignatureException"
        assert refusal["ResponseMetadata"]["HTTPStatusCode"] == 403


def _management_client(endpoint: str, secret: str):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=CLIENT_KEY.access_key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
