"""TLS for the listener the gateway serves its own functions on (``integrations/callback.py``).

The certificate names exactly what the functions call (the API's execute-api name, the
configured domainName, loopback names) and is issued at each start by the local CA kept in
``$WSGATE_HOME/tls`` (made on first use with :func:`~wsgate.security.certs.ensure_ca`). Its key
never reaches the disk for longer than it takes to load it. The functions trust that CA in
addition to the usual ones: ``AWS_CA_BUNDLE`` names a bundle of certifi's (else the system's)
authorities plus the local CA, so their calls to real AWS services verify as before;
``NODE_EXTRA_CA_CERTS`` names the local CA alone, as Node.js adds it to its own store.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wsgate.errors import TlsError
from wsgate.security.certs import ensure_ca, issue_certificate, server_ssl_context

__all__ = ["CallbackTls", "prepare_callback_tls", "public_authorities"]

_FOLDER: Final = "tls"


@dataclass(frozen=True, slots=True)
class CallbackTls:
    """The listener's TLS context and the files that make functions trust it."""

    context: ssl.SSLContext
    ca_bundle: Path  # the usual authorities, the local CA and any extra CA
    extra_ca: Path  # the local CA and any extra CA


def prepare_callback_tls(
    home: Path, names: Sequence[str], extra_ca_files: Sequence[str] = ()
) -> CallbackTls:
    """Issue the listener's certificate for ``names`` and write the functions' CA files.

    Args:
        home: ``$WSGATE_HOME``; the CA and the CA files live in its ``tls`` folder.
        names: what the certificate names (DNS names and IP addresses).
        extra_ca_files: more authorities the functions should trust (``server.tls.caFile``).

    Raises:
        TlsError: the CA or a file cannot be made or read.
    """
    folder = home / _FOLDER
    ca = ensure_ca(folder)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".listener-") as scratch:
        chain, key = issue_certificate(scratch, names, ca)
        context = server_ssl_context(chain, key)
    local = b"".join(_read(Path(path)) for path in [str(ca[0]), *extra_ca_files])
    extra_ca = _keep(folder, "functions-ca", local)
    ca_bundle = _keep(folder, "functions-bundle", _ensure_newline(public_authorities()) + local)
    return CallbackTls(context, ca_bundle, extra_ca)


def public_authorities() -> bytes:
    """The authorities botocore trusts by default: certifi's, else the system's (or none)."""
    try:
        import certifi

        return _read(Path(certifi.where()))
    except ImportError:  # pragma: no cover - certifi comes with the test and boto extras
        system = ssl.get_default_verify_paths().cafile
        return _read(Path(system)) if system and os.path.exists(system) else b""


def _keep(folder: Path, stem: str, content: bytes) -> Path:
    """A file named after its content, written once: gateways sharing the folder agree."""
    path = folder / f"{stem}-{hashlib.sha256(content).hexdigest()[:16]}.pem"
    if path.exists() and path.read_bytes() == content:
        return path
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{stem}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise TlsError(str(path), f"cannot write: {error.strerror or error}") from error
    return path


def _read(path: Path) -> bytes:
    try:
        return _ensure_newline(path.read_bytes())
    except OSError as error:
        raise TlsError(str(path), f"cannot read: {error.strerror or error}") from error


def _ensure_newline(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"
