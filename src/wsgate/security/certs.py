"""Local TLS material for ``wsgate cert``: a private CA and server certificates it issues.

Handlers build ``https://{domainName}/{stage}`` for boto3 from the ``$connect`` event; pointing
``AWS_CA_BUNDLE`` (or ``verify=``) at the CA made here lets those calls verify the gateway's
certificate without trusting anything else. Keys are EC P-256 and written with mode 0600.
Certificates carry what strict verifiers (Python 3.13's ``VERIFY_X509_STRICT``, browsers) want:
critical basic constraints and key usage, subject and authority key identifiers, serverAuth,
and every name in the subject alternative names.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import ssl
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wsgate.errors import TlsError

__all__ = [
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CA_VALIDITY",
    "SERVER_CERT_FILE",
    "SERVER_CHAIN_FILE",
    "SERVER_KEY_FILE",
    "SERVER_VALIDITY",
    "ensure_ca",
    "issue_certificate",
    "server_ssl_context",
]

CA_CERT_FILE: Final = "ca.pem"
CA_KEY_FILE: Final = "ca-key.pem"
SERVER_CERT_FILE: Final = "server.pem"
SERVER_CHAIN_FILE: Final = "server-chain.pem"  # leaf then CA: what the server presents
SERVER_KEY_FILE: Final = "server-key.pem"
CA_VALIDITY: Final = timedelta(days=3650)
# Browsers and Apple refuse server certificates valid for more than 398 days.
SERVER_VALIDITY: Final = timedelta(days=397)
# Issued slightly in the past so a client whose clock lags still accepts a fresh certificate.
_BACKDATE: Final = timedelta(minutes=5)

_PEM: Final = serialization.Encoding.PEM
_HOST_NAME: Final = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")


def ensure_ca(
    directory: str | os.PathLike[str], *, now: datetime | None = None
) -> tuple[Path, Path]:
    """Create a local CA in ``directory`` once; afterwards return the existing one.

    Returns:
        The paths of the CA certificate and of its private key (mode 0600).

    Raises:
        TlsError: only one of the two files exists, or the existing pair cannot be used.
    """
    folder = Path(directory)
    cert_path, key_path = folder / CA_CERT_FILE, folder / CA_KEY_FILE
    if cert_path.exists() and key_path.exists():
        _load_pair(cert_path, key_path)
        return cert_path, key_path
    for present, absent in ((cert_path, key_path), (key_path, cert_path)):
        if present.exists():
            raise TlsError(
                str(absent), f"missing while {present.name} exists; restore or remove it"
            )
    start = (now or datetime.now(UTC)) - _BACKDATE
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wsgate"),
            x509.NameAttribute(NameOID.COMMON_NAME, "wsgate local CA"),
        ]
    )
    identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(identifier, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    # Key first: a crash between the two writes leaves a key without a certificate, which the
    # half-pair check above reports instead of silently minting a second CA.
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(_PEM), private=False)
    return cert_path, key_path


def issue_certificate(
    directory: str | os.PathLike[str],
    names: Sequence[str],
    ca: tuple[str | os.PathLike[str], str | os.PathLike[str]],
    *,
    now: datetime | None = None,
    validity: timedelta = SERVER_VALIDITY,
) -> tuple[Path, Path]:
    """Issue a server certificate for ``names`` (DNS names and IP addresses) signed by ``ca``.

    Writes the leaf (``server.pem``), the chain a server should present (``server-chain.pem``:
    leaf then CA) and the key (``server-key.pem``, mode 0600), replacing earlier ones.

    Args:
        directory: where to write the files.
        names: host names (``localhost``, ``*.example.test``, internationalised names) and IP
            addresses (``127.0.0.1``, ``::1``, ``[::1]``); the first becomes the common name.
        ca: the CA certificate and key paths, as :func:`ensure_ca` returns them.
        now: the issuing time (default: the current time).
        validity: how long the certificate is valid, at most :data:`SERVER_VALIDITY`.

    Returns:
        The paths of the chain file and of the private key.

    Raises:
        TlsError: no names, a name that is neither a host name nor an IP address, a validity
            longer than allowed, or an unusable CA.
    """
    if not names:
        raise TlsError(os.fspath(directory), "a certificate needs at least one name")
    if not timedelta(0) < validity <= SERVER_VALIDITY:
        raise TlsError(os.fspath(directory), f"validity must be within {SERVER_VALIDITY.days} days")
    alternative_names = [_general_name(name) for name in names]
    ca_cert, ca_key = _load_pair(Path(ca[0]), Path(ca[1]))
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TlsError(os.fspath(ca[1]), "the CA key must be an EC or RSA key")
    start = (now or datetime.now(UTC)) - _BACKDATE
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = str(alternative_names[0].value)
    subject = x509.Name(
        # RFC 5280 caps the common name at 64 characters; the SAN carries the names anyway.
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if len(common_name) <= 64 else []
    )
    ca_identifier = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # With an empty subject the names must be critical (RFC 5280 §4.2.1.6).
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=not subject)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_identifier),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = Path(directory)
    leaf = cert.public_bytes(_PEM)
    key_path, chain_path = folder / SERVER_KEY_FILE, folder / SERVER_CHAIN_FILE
    _write(key_path, _key_pem(key), private=True)
    _write(folder / SERVER_CERT_FILE, leaf, private=False)
    _write(chain_path, leaf + ca_cert.public_bytes(_PEM), private=False)
    return chain_path, key_path


def server_ssl_context(
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    *,
    now: datetime | None = None,
) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting ``cert_path`` (leaf first, then any chain).

    Raises:
        TlsError: a file is missing or unreadable, holds no PEM certificate or unencrypted PEM
            key, the key does not belong to the certificate, or the certificate has expired or
            is not valid yet.
    """
    cert, _ = _load_pair(Path(cert_path), Path(key_path))
    moment = now or datetime.now(UTC)
    if moment > cert.not_valid_after_utc:
        raise TlsError(os.fspath(cert_path), f"certificate expired on {cert.not_valid_after_utc}")
    if moment < cert.not_valid_before_utc:
        raise TlsError(
            os.fspath(cert_path), f"certificate is not valid before {cert.not_valid_before_utc}"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as error:
        raise TlsError(os.fspath(cert_path), f"cannot load: {error.reason or error}") from error
    return context


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, PrivateKeyTypes]:
    """The first certificate of ``cert_path`` and the key of ``key_path``, checked to match."""
    try:
        cert = x509.load_pem_x509_certificates(_read(cert_path))[0]
    except ValueError as error:
        raise TlsError(str(cert_path), "no PEM certificate in the file") from error
    try:
        key = serialization.load_pem_private_key(_read(key_path), password=None)
    except (TypeError, ValueError) as error:
        raise TlsError(str(key_path), "not an unencrypted PEM private key") from error
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        raise TlsError(str(key_path), f"the key does not belong to the certificate {cert_path}")
    return cert, key


def _public_der(key: CertificatePublicKeyTypes | PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsError(str(path), f"cannot read: {error.strerror or error}") from error


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Replace ``path`` atomically, so a running server never reads half a file."""
    temporary: str | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o600 if private else 0o644)
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise TlsError(str(path), f"cannot write: {error.strerror or error}") from error


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    """An IP address or DNS name for the subject alternative names."""
    text = name.strip()
    address = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    with contextlib.suppress(ValueError):
        return x509.IPAddress(ipaddress.ip_address(address))
    wildcard = text.startswith("*.")
    try:
        # Internationalised names go in as their xn-- form, as RFC 5280 requires.
        host = text.removeprefix("*.").rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = ""
    if not _HOST_NAME.fullmatch(host):
        raise TlsError(name, "not a host name or an IP address")
    return x509.DNSName(("*." if wildcard else "") + host)
