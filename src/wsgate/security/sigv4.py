"""AWS Signature Version 4 verification for ``execute-api`` (§6.4 and §7.3 of the AWS reference).

The signature is recomputed with botocore's own signer (canonical request, string to sign,
signing key), told exactly which headers the client signed, and compared in constant time. Two
forms are accepted: the ``Authorization`` header, and the query string (``X-Amz-Algorithm``,
``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``,
``X-Amz-Signature``, ``X-Amz-Security-Token``), the only way a browser can sign a WebSocket
handshake.

The canonical URI must be built from the raw path as received: botocore quotes the path it sends
once more with safe ``/~``, so ``/dev/@connections/ab%3D`` is signed as
``/dev/%40connections/ab%253D``; a path decoded first would not reproduce that. For the canonical
query AWS decodes every name and value and re-encodes them (what every SDK sends), while
botocore's header signer sorts the pairs exactly as written in the URL; both agree on any query
an SDK builds, and for a loosely encoded one (a literal ``+`` or ``/``) either form is accepted.

The payload hash is always the body's SHA-256: a signed ``x-amz-content-sha256`` that differs
from it (including ``UNSIGNED-PAYLOAD``) makes the signature mismatch, so a body cannot be swapped
under a valid signature.

Failures raise :class:`~wsgate.errors.SignatureError` with AWS's status, error type and message;
:func:`error_response` renders it the way AWS does, so botocore parses the same error code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials as BotoCredentials

from wsgate.errors import SignatureError
from wsgate.security.credentials import Credentials, CredentialStore

__all__ = [
    "ALGORITHM",
    "MAX_CLOCK_SKEW",
    "MAX_EXPIRES_SECONDS",
    "SERVICE",
    "CredentialStore",
    "Credentials",
    "error_response",
    "verify",
]

SERVICE: Final = "execute-api"
ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)
MAX_EXPIRES_SECONDS: Final = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week

_TIMESTAMP: Final = "%Y%m%dT%H%M%SZ"
_AMZ_DATE: Final = re.compile(r"\d{8}T\d{6}Z")
_AUTH_PARTS: Final = re.compile(r"[,\s]+")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# Only the path and query of this URL reach the canonical request; the host comes from the
# signed Host header, never from here.
_URL_BASE: Final = "https://wsgate.invalid"

_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_BAD_TOKEN: Final = "The security token included in the request is invalid."
_HOST_UNSIGNED: Final = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
# The parameters a signed request must carry, with AWS's complaint when one is missing.
_HEADER_PARAMS: Final = {
    "Credential": "Authorization header requires 'Credential' parameter.",
    "Signature": "Authorization header requires 'Signature' parameter.",
    "SignedHeaders": "Authorization header requires 'SignedHeaders' parameter.",
}
_QUERY_PARAMS: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)


@dataclass(frozen=True, slots=True)
class _Request:
    """The parts of an HTTP request a signature covers, as received."""

    method: str
    path: str
    query: tuple[str, ...]  # raw ``name=value`` segments in their order
    headers: Mapping[str, list[str]]  # lower-case names
    body: bytes


@dataclass(frozen=True, slots=True)
class _Claim:
    """What the request says about its signature."""

    credential: str
    timestamp: str  # YYYYMMDD'T'HHMMSS'Z'
    signed_headers: tuple[str, ...]
    signature: str
    session_token: str | None
    expires: int | None  # presigned URLs only
    query: tuple[str, ...]  # the query segments the signature covers


def verify(
    method: str,
    raw_path_with_query: str,
    headers: Mapping[str, str],
    body: bytes,
    store: CredentialStore,
    region: str,
    now: datetime,
    service: str = SERVICE,
) -> Credentials:
    """Check a request's SigV4 signature for ``service`` (``execute-api``, or ``apigateway``
    for the control plane) in ``region``; return who signed it.

    Args:
        method: the HTTP method.
        raw_path_with_query: the request target exactly as received, still percent-encoded.
        headers: the request headers; names are matched case-insensitively and a multi-valued
            header (a multidict's repeated items) is joined with commas, as botocore does.
        body: the request body (empty for the WebSocket handshake).
        store: the known access keys.
        region: the region the credential scope must name.
        now: the current time (naive values are taken as UTC).
        service: the service the credential scope must name.

    Raises:
        SignatureError: AWS's 403 answer for a missing, malformed, stale or wrong signature.
    """
    request = _request(method, raw_path_with_query, headers, body)
    claim = _claim(request)
    key_id = _check_scope(claim, region, service)
    _check_time(claim, now if now.tzinfo else now.replace(tzinfo=UTC))
    credentials = store.get(key_id)
    if credentials is None or not _same(credentials.session_token, claim.session_token):
        raise SignatureError("UnrecognizedClientException", _BAD_TOKEN)
    _check_signature(request, claim, credentials.secret_access_key, region, service)
    return credentials


def error_response(error: SignatureError) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body AWS answers ``error`` with (``x-amzn-ErrorType`` + message)."""
    body = json.dumps({"message": error.message}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.error_type}
    return error.status, headers, body


def _request(method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Request:
    path, _, query = target.partition("?")
    folded: dict[str, list[str]] = {}
    for name, value in headers.items():
        folded.setdefault(name.lower(), []).append(value)
    segments = tuple(query.split("&")) if query else ()
    return _Request(method, path, segments, folded, body)


def _claim(request: _Request) -> _Claim:
    authorization = request.headers.get("authorization")
    if authorization:
        return _header_claim(authorization[0], request)
    params = _query_params(request.query)
    if any(name in params for name in _QUERY_PARAMS[:3]):
        return _query_claim(params, request)
    raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")


def _header_claim(authorization: str, request: _Request) -> _Claim:
    scheme, _, rest = authorization.strip().partition(" ")
    params: dict[str, str] = {}
    for part in filter(None, _AUTH_PARTS.split(rest)):
        name, equals, value = part.partition("=")
        if not equals:
            # API Gateway hashes the header here rather than echo a bearer token back.
            digest = base64.b64encode(hashlib.sha256(authorization.encode()).digest()).decode()
            raise _incomplete(
                "Invalid key=value pair (missing equal-sign) in Authorization header "
                f"(hashed with SHA-256 and encoded with Base64): '{digest}'."
            )
        params[name] = value
    problems = [message for name, message in _HEADER_PARAMS.items() if name not in params]
    dates = request.headers.get("x-amz-date") or request.headers.get("date") or []
    if not dates:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        raise _incomplete(" ".join(problems) + f" Authorization={authorization}")
    if scheme != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{scheme}'")
    token = request.headers.get("x-amz-security-token")
    return _Claim(
        credential=params["Credential"],
        timestamp=_timestamp(dates[0], http_date="x-amz-date" not in request.headers),
        signed_headers=_signed_headers(params["SignedHeaders"]),
        signature=params["Signature"],
        session_token=token[0] if token else None,
        expires=None,
        query=request.query,
    )


def _query_claim(params: Mapping[str, list[str]], request: _Request) -> _Claim:
    missing = [name for name in _QUERY_PARAMS if name not in params]
    if missing:
        needs = " ".join(f"AWS query-string parameters must include '{name}'." for name in missing)
        raise _incomplete(f"{needs} Re-examine the query-string parameters.")
    algorithm = params["X-Amz-Algorithm"][0]
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'")
    token = params.get("X-Amz-Security-Token") or request.headers.get("x-amz-security-token")
    expires = params.get("X-Amz-Expires")
    return _Claim(
        credential=params["X-Amz-Credential"][0],
        timestamp=_timestamp(params["X-Amz-Date"][0], http_date=False),
        signed_headers=_signed_headers(params["X-Amz-SignedHeaders"][0]),
        signature=params["X-Amz-Signature"][0],
        session_token=token[0] if token else None,
        expires=_expires(expires[0]) if expires else None,
        # The signature covers every other parameter, including the rest of X-Amz-*.
        query=tuple(s for s in request.query if _decode(s)[0] != "X-Amz-Signature"),
    )


def _query_params(segments: Sequence[str]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for segment in segments:
        name, value = _decode(segment)
        params.setdefault(name, []).append(value)
    return params


def _decode(segment: str) -> tuple[str, str]:
    name, _, value = segment.partition("=")
    return unquote(name), unquote(value)


def _timestamp(value: str, *, http_date: bool) -> str:
    """The signing time as YYYYMMDD'T'HHMMSS'Z', from X-Amz-Date or (failing that) Date."""
    try:
        if http_date:
            parsed = parsedate_to_datetime(value)
            # '-0000' means "UTC, source unknown" and parses naive; anything else is aware.
            return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC).strftime(_TIMESTAMP)
        if _AMZ_DATE.fullmatch(value):
            return datetime.strptime(value, _TIMESTAMP).strftime(_TIMESTAMP)
    except (TypeError, ValueError, OverflowError):  # overflow: a date at the calendar's ends
        pass
    raise _incomplete(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in value.split(";") if name.strip())
    if "host" not in names and ":authority" not in names:
        raise _incomplete(_HOST_UNSIGNED)
    return names


def _expires(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise _incomplete("X-Amz-Expires should be a number") from None
    if seconds < 0:
        raise _incomplete("X-Amz-Expires must be non-negative")
    if seconds > MAX_EXPIRES_SECONDS:
        raise _incomplete(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECONDS}"
        )
    return seconds


def _check_scope(claim: _Claim, region: str, service_name: str) -> str:
    """Check the credential scope against the request; return the access key id."""
    parts = claim.credential.split("/")
    if len(parts) != 5:
        raise _incomplete(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{claim.credential}'"
        )
    key_id, date, scope_region, service, terminator = parts
    # AWS lists every problem at once; each ends with '. ' except the date's, which ends the text.
    problems = ""
    if scope_region != region:
        problems += f"Credential should be scoped to a valid region, not '{scope_region}'. "
    if service != service_name:
        problems += f"Credential should be scoped to correct service: '{service_name}'. "
    if terminator != "aws4_request":
        problems += (
            f"Credential should be scoped with a valid terminator: 'aws4_request', not "
            f"'{terminator}'. "
        )
    if date != claim.timestamp[:8]:
        problems += (
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            f"HTTP: '{date}' != '{claim.timestamp[:8]}', from '{claim.timestamp}'."
        )
    if problems:
        raise SignatureError("InvalidSignatureException", problems)
    return key_id


def _check_time(claim: _Claim, now: datetime) -> None:
    signed_at = datetime.strptime(claim.timestamp, _TIMESTAMP).replace(tzinfo=UTC)
    now = now.astimezone(UTC).replace(microsecond=0)
    stamp = now.strftime(_TIMESTAMP)
    if signed_at > now + MAX_CLOCK_SKEW:
        limit = (now + MAX_CLOCK_SKEW).strftime(_TIMESTAMP)
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature not yet current: {claim.timestamp} is still later than {limit} "
            f"({stamp} + 5 min.)",
        )
    # A presigned URL lives X-Amz-Expires seconds; a signed header only the allowed clock skew.
    window, label = (
        (MAX_CLOCK_SKEW, "5 min.")
        if claim.expires is None
        else (timedelta(seconds=claim.expires), f"{claim.expires} sec.")
    )
    if signed_at < now - window:
        limit = (now - window).strftime(_TIMESTAMP)
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {claim.timestamp} is now earlier than {limit} ({stamp} - {label})",
        )


def _check_signature(
    request: _Request, claim: _Claim, secret: str, region: str, service: str
) -> None:
    headers = HTTPHeaders()
    signed: list[str] = [request.method, request.path, *claim.query]
    for name in claim.signed_headers:
        # A signed header that did not arrive counts as empty; the signature then decides.
        for value in request.headers.get(name, [""]):
            headers[name] = value
            signed += (name, value)
    if any(_SURROGATE.search(text) for text in signed) or not request.path.startswith("/"):
        # Bytes that are not UTF-8 arrive as lone surrogates (aiohttp decodes with
        # surrogateescape), and a target in absolute form ("http://h/dev") has no leading
        # slash: botocore signs neither, and would read the second as part of the host.
        raise SignatureError("InvalidSignatureException", _MISMATCH)
    signer = _SignedHeadersAuth(BotoCredentials("", secret), service, region, headers)
    provided = claim.signature.encode("utf-8", "replace")
    canonical, string_to_sign, expected = _sign(signer, request, claim, raw_query=False)
    if hmac.compare_digest(expected.encode(), provided):
        return
    raw = _sign(signer, request, claim, raw_query=True)
    if raw[0] != canonical and hmac.compare_digest(raw[2].encode(), provided):
        return
    raise SignatureError(
        "InvalidSignatureException",
        f"{_MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
        f"The String-to-Sign should have been\n'{string_to_sign}'\n",
    )


def _sign(
    signer: SigV4Auth, request: _Request, claim: _Claim, *, raw_query: bool
) -> tuple[str, str, str]:
    """The canonical request, string to sign and signature botocore computes for ``claim``."""
    url = _URL_BASE + request.path
    if raw_query and claim.query:
        url += "?" + "&".join(claim.query)
    aws_request = AWSRequest(method=request.method, url=url, data=request.body)
    if not raw_query:
        # A list of pairs keeps repeated names; botocore's signer takes one, its stubs say dict.
        pairs = [_decode(segment) for segment in claim.query if segment]
        aws_request.params = pairs  # type: ignore[assignment]
    aws_request.context["timestamp"] = claim.timestamp
    canonical = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical)
    return canonical, string_to_sign, signer.signature(string_to_sign, aws_request)


class _SignedHeadersAuth(SigV4Auth):
    """botocore's signer over exactly the headers the client listed in SignedHeaders.

    botocore itself skips headers such as ``user-agent`` and ``upgrade`` and adds ``host``; the
    client's list is what its signature covers, so it is what the check must use.
    """

    def __init__(
        self, credentials: BotoCredentials, service: str, region: str, headers: HTTPHeaders
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed = headers

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed


def _same(expected: str | None, given: str | None) -> bool:
    if expected is None or given is None:
        return expected is given
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _incomplete(message: str) -> SignatureError:
    return SignatureError("IncompleteSignatureException", message)
