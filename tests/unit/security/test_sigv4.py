"""SigV4 verification against requests signed by botocore itself and by the boto3 client."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from multidict import CIMultiDict

from wsgate.errors import SignatureError
from wsgate.security.sigv4 import (
    MAX_EXPIRES_SECONDS,
    Credentials,
    CredentialStore,
    error_response,
    verify,
)

REGION = "us-east-1"
KEY = Credentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "arn:aws:iam::123456789012:user/al"
)
TEMPORARY = Credentials(
    "ASIAEXAMPLE", "temporary/secret", "arn:aws:sts::123456789012:assumed-role/r/s", "tok/+=en"
)
STORE = CredentialStore([KEY, TEMPORARY])
ENDPOINT = "http://localhost:8080/dev"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclasses.dataclass(frozen=True)
class Sent:
    """A request as the server would see it: raw target, headers, body."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def signed_at(self) -> datetime:
        query = dict(parse_qsl(urlsplit(self.target).query))
        stamp = self.headers.get("X-Amz-Date") or query["X-Amz-Date"]
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    def header(self, name: str, value: str | None) -> Sent:
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return dataclasses.replace(self, headers=headers)


class _Body:
    def stream(self, **_: object):
        return iter([b"{}"])


def _sent(request) -> Sent:
    parts = urlsplit(request.url)
    headers = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in request.headers.items()
    }
    headers.setdefault("Host", parts.netloc)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return Sent(request.method, target, headers, request.body or b"")


def boto_request(
    operation: str, endpoint: str = ENDPOINT, credentials: Credentials = KEY, **params
) -> Sent:
    """What the unmodified boto3 client sends for ``operation``, captured before the network."""
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"max_attempts": 1}),
    )
    captured = []

    def before_send(request, **_):
        captured.append(request)
        return AWSResponse(request.url, 200, HTTPHeaders(), _Body())

    client.meta.events.register("before-send", before_send)
    getattr(client, operation)(**params)
    return _sent(captured[0])


def sign(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    credentials: Credentials = KEY,
    region: str = REGION,
    service: str = "execute-api",
    expires: int | None = None,
) -> Sent:
    """A request signed by botocore's SigV4 signer (header form, or query form with expires)."""
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    boto_credentials = BotoCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    if expires is None:
        SigV4Auth(boto_credentials, service, region).add_auth(request)
    else:
        SigV4QueryAuth(boto_credentials, service, region, expires=expires).add_auth(request)
    return _sent(request.prepare())


def check(sent: Sent, *, store=STORE, region=REGION, now: datetime | None = None) -> Credentials:
    return verify(
        sent.method, sent.target, sent.headers, sent.body, store, region, now or sent.signed_at
    )


def refused(sent: Sent, **kwargs) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        check(sent, **kwargs)
    return caught.value


# --- what boto3's apigatewaymanagementapi client sends -----------------------------------------


@pytest.mark.parametrize(
    "connection_id", ["L0SM9cOFvHcCIhw=", "ab/c=d+e", "a b~c", "id%40x", "été", "-._~"]
)
@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("post_to_connection", {"Data": b"hello"}),
        ("post_to_connection", {"Data": "text, not bytes"}),
        ("post_to_connection", {"Data": b""}),
        ("get_connection", {}),
        ("delete_connection", {}),
    ],
)
def test_boto3_requests_verify(operation, params, connection_id):
    sent = boto_request(operation, ConnectionId=connection_id, **params)
    assert "/dev/@connections/" in sent.target  # boto3 keeps the literal '@'
    assert check(sent) == KEY


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://localhost:8080/dev",
        "http://127.0.0.1:9000/prefix/dev",
        "https://abc123.execute-api.us-east-1.amazonaws.com/prod",
        "https://localhost:8443/dev/",
    ],
)
def test_boto3_endpoints_verify(endpoint):
    sent = boto_request("post_to_connection", endpoint, ConnectionId="x=", Data=b"{}")
    assert check(sent) == KEY


def test_boto3_session_token_verifies_and_is_required():
    sent = boto_request("get_connection", credentials=TEMPORARY, ConnectionId="x=")
    assert sent.headers["X-Amz-Security-Token"] == "tok/+=en"
    assert check(sent) == TEMPORARY
    for token in (None, "other"):
        error = refused(sent.header("X-Amz-Security-Token", token))
        assert (error.error_type, error.message) == (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )


def test_a_token_on_a_long_term_key_is_refused():
    sent = sign("GET", f"{ENDPOINT}/@connections/x", headers={"X-Amz-Security-Token": "stray"})
    assert refused(sent).error_type == "UnrecognizedClientException"


def test_percent_encoded_at_sign_verifies_as_sent():
    # awscurl and some SDKs send %40connections; the raw path is what they signed.
    sent = sign("POST", f"{ENDPOINT}/%40connections/ab%3D", body=b"x")
    assert check(sent) == KEY


def test_boto3_presigned_url_verifies():
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=TEMPORARY.access_key_id,
        aws_secret_access_key=TEMPORARY.secret_access_key,
        aws_session_token=TEMPORARY.session_token,
    )
    url = client.generate_presigned_url(
        "get_connection", Params={"ConnectionId": "ab/c="}, ExpiresIn=60
    )
    parts = urlsplit(url)
    sent = Sent("GET", f"{parts.path}?{parts.query}", {"Host": parts.netloc})
    assert check(sent) == TEMPORARY
    assert check(sent, now=sent.signed_at + timedelta(seconds=60)) == TEMPORARY
    error = refused(sent, now=sent.signed_at + timedelta(seconds=61))
    assert error.message.startswith("Signature expired: ")
    assert error.message.endswith(" - 60 sec.)")


# --- the WebSocket handshake ---------------------------------------------------------------------

HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    "User-Agent": "test/1",
}


def test_handshake_signed_in_headers():
    sent = sign("GET", "https://ws.example.com/dev?room=a%20b&x=1&x=0", headers=HANDSHAKE)
    assert "upgrade" not in sent.headers["Authorization"]  # botocore skips it; we follow the list
    assert check(sent) == KEY


@pytest.mark.parametrize("credentials", [KEY, TEMPORARY])
def test_handshake_presigned_in_the_query(credentials):
    # A browser cannot set headers on a WebSocket: everything rides in the query string.
    sent = sign(
        "GET", "https://ws.example.com/dev?room=lobby", credentials=credentials, expires=300
    )
    sent = dataclasses.replace(sent, headers={"Host": "ws.example.com", **HANDSHAKE})
    assert "X-Amz-Signature=" in sent.target
    assert check(sent) == credentials
    assert check(sent, now=sent.signed_at + timedelta(seconds=300)) == credentials
    assert check(sent, now=sent.signed_at - timedelta(minutes=5)) == credentials


def test_presigned_token_may_come_as_a_header():
    url = "https://ws.example.com/dev"
    sent = sign(
        "GET", url, credentials=dataclasses.replace(TEMPORARY, session_token=None), expires=60
    )
    assert check(sent.header("X-Amz-Security-Token", "tok/+=en")) == TEMPORARY


def test_removing_x_amz_expires_breaks_the_signature():
    sent = sign("GET", "https://ws.example.com/dev", expires=60)
    target = "&".join(p for p in sent.target.split("&") if not p.startswith("X-Amz-Expires="))
    error = refused(dataclasses.replace(sent, target=target))
    assert error.message.startswith(MISMATCH)


def test_presigned_without_expires_gets_the_clock_skew_window():
    sent = _presign_without_expires("https://ws.example.com/dev")
    assert "X-Amz-Expires" not in sent.target
    assert check(sent) == KEY
    assert check(sent, now=sent.signed_at + timedelta(minutes=5)) == KEY
    error = refused(sent, now=sent.signed_at + timedelta(minutes=5, seconds=1))
    assert error.message.endswith(" - 5 min.)")


def _presign_without_expires(url: str) -> Sent:
    class NoExpires(SigV4QueryAuth):
        def _modify_request_before_signing(self, request):
            # botocore's stubs leave out this hook, which every signer has.
            super()._modify_request_before_signing(request)  # type: ignore[misc]
            parts = urlsplit(request.url)
            query = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Expires"))
            request.url = parts._replace(query=query).geturl()

    request = AWSRequest(method="GET", url=url)
    credentials = BotoCredentials(KEY.access_key_id, KEY.secret_access_key)
    NoExpires(credentials, "execute-api", REGION).add_auth(request)
    return _sent(request.prepare())


# --- how the canonical request is rebuilt -------------------------------------------------------


def test_multi_valued_headers_join_like_botocore():
    request = AWSRequest(method="GET", url="https://ws.example.com/dev")
    request.headers["X-Custom"] = " a  b "
    request.headers["X-Custom"] = "c"
    SigV4Auth(
        BotoCredentials(KEY.access_key_id, KEY.secret_access_key), "execute-api", REGION
    ).add_auth(request)
    sent = _sent(request.prepare())
    pairs = [(k, v) for k, v in sent.headers.items() if k != "X-Custom"]
    multi = CIMultiDict([*pairs, ("x-custom", " a  b "), ("X-CUSTOM", "c")])
    assert verify("GET", sent.target, multi, b"", STORE, REGION, sent.signed_at) == KEY
    joined = sent.header("X-Custom", "a b,c")
    assert check(joined) == KEY
    assert refused(sent.header("X-Custom", "c, a b")).error_type == "InvalidSignatureException"


def test_date_header_instead_of_x_amz_date():
    signed_at = datetime.now(UTC).replace(microsecond=0)
    sent = sign(
        "GET",
        "https://ws.example.com/dev",
        headers={"Date": format_datetime(signed_at, usegmt=True)},
    )
    assert "X-Amz-Date" not in sent.headers
    assert verify(sent.method, sent.target, sent.headers, b"", STORE, REGION, signed_at) == KEY
    # RFC 5322's "-0000" (UTC, origin unknown) parses as a naive time.
    minus_zero = sent.header("Date", format_datetime(signed_at.replace(tzinfo=None)))
    assert "-0000" in minus_zero.headers["Date"]
    assert verify("GET", sent.target, minus_zero.headers, b"", STORE, REGION, signed_at) == KEY


def test_headers_botocore_would_not_sign_are_checked_when_signed():
    class EveryHeader(SigV4Auth):
        def headers_to_sign(self, request):
            headers = super().headers_to_sign(request)
            headers["user-agent"] = request.headers["User-Agent"]
            return headers

    request = AWSRequest(method="GET", url="https://ws.example.com/dev", headers=HANDSHAKE)
    EveryHeader(
        BotoCredentials(KEY.access_key_id, KEY.secret_access_key), "execute-api", REGION
    ).add_auth(request)
    sent = _sent(request.prepare())
    assert "user-agent" in sent.headers["Authorization"]
    assert check(sent) == KEY
    assert refused(sent.header("User-Agent", "other/2")).error_type == "InvalidSignatureException"


def test_query_normalised_the_aws_way():
    # Signed over the decoded-and-re-encoded query (what SDKs do); sent with lower-case escapes.
    sent = sign("GET", "https://ws.example.com/dev?path=a%2Fb")
    loose = dataclasses.replace(sent, target="/dev?path=a%2fb")
    assert check(loose) == KEY


def test_query_as_written_the_botocore_way():
    # botocore's header signer takes the query as written; a literal '+' is signed as '+'.
    sent = sign("GET", "https://ws.example.com/dev?q=a+b&empty&flag=")
    assert sent.target == "/dev?q=a+b&empty&flag="
    assert check(sent) == KEY


def test_dot_segments_and_double_slashes_normalise_like_botocore():
    sent = sign("GET", "https://ws.example.com//dev/./x/../@connections/id")
    assert check(sent) == KEY


def test_payload_hash_header_must_match_the_body():
    body = b'{"a":1}'
    digest = hashlib.sha256(body).hexdigest()
    sent = sign(
        "POST", f"{ENDPOINT}/@connections/x", body=body, headers={"X-Amz-Content-SHA256": digest}
    )
    assert check(sent) == KEY
    unsigned = sign(
        "POST",
        f"{ENDPOINT}/@connections/x",
        body=body,
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    error = refused(unsigned)
    assert error.error_type == "InvalidSignatureException"
    assert f"\n{digest}'" in error.message  # the hash it should have signed


def test_naive_now_is_utc():
    sent = boto_request("get_connection", ConnectionId="x=")
    assert check(sent, now=sent.signed_at.replace(tzinfo=None)) == KEY


# --- refusals ------------------------------------------------------------------------------------


def _post() -> Sent:
    return boto_request("post_to_connection", ConnectionId="ab/c=", Data=b"hello")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: dataclasses.replace(s, body=b"hellO"),
        lambda s: dataclasses.replace(s, method="PUT"),
        lambda s: dataclasses.replace(s, target=s.target.replace("ab%2Fc", "ab%2Fd")),
        lambda s: dataclasses.replace(s, target=s.target.replace("%2F", "/")),
        lambda s: dataclasses.replace(s, target=s.target.replace("@", "%40")),
        lambda s: dataclasses.replace(s, target=s.target + "?x=1"),
        lambda s: s.header("Host", "evil.example.com"),
        lambda s: s.header("Host", None),
        lambda s: s.header(
            "Authorization", s.headers["Authorization"].replace("Signature=", "Signature=0")
        ),
        lambda s: s.header("Authorization", s.headers["Authorization"][:-64] + "é" * 64),
    ],
    ids=[
        "body",
        "method",
        "id",
        "decoded-slash",
        "encoded-at",
        "query",
        "host",
        "no-host",
        "signature",
        "non-ascii-signature",
    ],
)
def test_tampered_requests_are_refused(tamper):
    sent = tamper(_post())
    error = refused(sent)
    assert (error.status, error.error_type) == (403, "InvalidSignatureException")
    assert error.message.startswith(
        MISMATCH + "\n\nThe Canonical String for this request should have been\n'"
    )
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in error.message


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: dataclasses.replace(s, target=s.target + "\udcff"),
        lambda s: dataclasses.replace(s, target=s.target + "?a=\udcff"),
        lambda s: dataclasses.replace(s, method="P\udcffST"),
        lambda s: s.header("Host", "localhost:8080\udcff"),
        lambda s: dataclasses.replace(s, target="[" + s.target[1:]),
        lambda s: dataclasses.replace(s, target="http://localhost:8080" + s.target),
    ],
    ids=["path", "query", "method", "header", "no-slash", "absolute-form"],
)
def test_what_no_sdk_signs_never_verifies(tamper):
    # Bytes that are not UTF-8 (aiohttp hands them over as lone surrogates) and targets without
    # a leading slash. Found by fuzzing: botocore raised while building the canonical request
    # (UnicodeEncodeError, "Invalid IPv6 URL"), a 500.
    error = refused(tamper(_post()))
    assert (error.status, error.error_type, error.message) == (
        403,
        "InvalidSignatureException",
        MISMATCH,
    )


def test_mismatch_shows_the_canonical_request_like_api_gateway():
    sent = _post()
    wrong_secret = CredentialStore([dataclasses.replace(KEY, secret_access_key="nope")])
    message = refused(sent, store=wrong_secret).message
    stamp = sent.headers["X-Amz-Date"]
    canonical = (
        "POST\n/dev/%40connections/ab%252Fc%253D\n\n"
        f"host:localhost:8080\nx-amz-date:{stamp}\n\nhost;x-amz-date\n"
        + hashlib.sha256(b"hello").hexdigest()
    )
    assert message == (
        f"{MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
        "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n"
        f"{stamp}\n{stamp[:8]}/us-east-1/execute-api/aws4_request\n"
        f"{hashlib.sha256(canonical.encode()).hexdigest()}'\n"
    )


def test_unknown_key():
    sent = boto_request(
        "get_connection",
        credentials=dataclasses.replace(KEY, access_key_id="AKIDOTHER"),
        ConnectionId="x=",
    )
    error = refused(sent)
    assert (error.status, error.error_type, error.message) == (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


@pytest.mark.parametrize(
    ("region", "service", "message"),
    [
        (
            "eu-west-1",
            "execute-api",
            "Credential should be scoped to a valid region, not 'eu-west-1'. ",
        ),
        (
            "us-east-1",
            "apigateway",
            "Credential should be scoped to correct service: 'execute-api'. ",
        ),
        (
            "eu-west-1",
            "apigateway",
            "Credential should be scoped to a valid region, not 'eu-west-1'. "
            "Credential should be scoped to correct service: 'execute-api'. ",
        ),
    ],
)
def test_wrong_scope(region, service, message):
    sent = sign("GET", f"{ENDPOINT}/@connections/x", region=region, service=service)
    error = refused(sent)
    assert (error.status, error.error_type, error.message) == (
        403,
        "InvalidSignatureException",
        message,
    )


def test_every_scope_problem_at_once():
    sent = sign("GET", f"{ENDPOINT}/@connections/x")
    stamp = sent.headers["X-Amz-Date"]
    authorization = sent.headers["Authorization"].replace(
        f"AKIDEXAMPLE/{stamp[:8]}/us-east-1/execute-api/aws4_request", "AKIDEXAMPLE/b/c/d/e"
    )
    error = refused(sent.header("Authorization", authorization))
    assert error.message == (
        "Credential should be scoped to a valid region, not 'c'. "
        "Credential should be scoped to correct service: 'execute-api'. "
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'e'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        f"HTTP: 'b' != '{stamp[:8]}', from '{stamp}'."
    )


def test_clock_skew():
    sent = _post()
    at = sent.signed_at
    assert check(sent, now=at + timedelta(minutes=5)) == KEY
    assert check(sent, now=at - timedelta(minutes=5)) == KEY
    late = refused(sent, now=at + timedelta(minutes=5, seconds=1, microseconds=5))
    assert late.error_type == "InvalidSignatureException"
    fmt = "%Y%m%dT%H%M%SZ"
    now = at + timedelta(minutes=5, seconds=1)
    assert late.message == (
        f"Signature expired: {at:{fmt}} is now earlier than {now - timedelta(minutes=5):{fmt}} "
        f"({now:{fmt}} - 5 min.)"
    )
    now = at - timedelta(minutes=5, seconds=1)
    early = refused(sent, now=now)
    assert early.message == (
        f"Signature not yet current: {at:{fmt}} is still later than "
        f"{now + timedelta(minutes=5):{fmt}} ({now:{fmt}} + 5 min.)"
    )


def test_presigned_url_from_the_future():
    sent = sign("GET", "https://ws.example.com/dev", expires=3600)
    error = refused(sent, now=sent.signed_at - timedelta(minutes=6))
    assert error.message.startswith("Signature not yet current: ")


def test_missing_authentication():
    error = refused(Sent("GET", "/dev?room=1", {"Host": "ws.example.com"}), now=datetime.now(UTC))
    assert (error.status, error.error_type, error.message) == (
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )


NOW = datetime(2024, 2, 9, 18, 23, 27, tzinfo=UTC)
DATED = {"Host": "h", "X-Amz-Date": "20240209T182327Z"}


def _incomplete(headers: dict[str, str], target: str = "/dev") -> str:
    with pytest.raises(SignatureError) as caught:
        verify("GET", target, headers, b"", STORE, REGION, NOW)
    assert (caught.value.status, caught.value.error_type) == (403, "IncompleteSignatureException")
    return caught.value.message


def test_bearer_token_in_authorization():
    header = "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"
    digest = base64.b64encode(hashlib.sha256(header.encode()).digest()).decode()
    assert _incomplete({**DATED, "Authorization": header}) == (
        "Invalid key=value pair (missing equal-sign) in Authorization header "
        f"(hashed with SHA-256 and encoded with Base64): '{digest}'."
    )


def test_authorization_without_parameters():
    assert _incomplete({"Host": "h", "Authorization": "eyJ0eXAi"}) == (
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=eyJ0eXAi"
    )


def test_authorization_missing_some_parameters():
    header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240209/us-east-1/execute-api/aws4_request"
    assert _incomplete({**DATED, "Authorization": header}) == (
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        f"Authorization={header}"
    )


GOOD_PARAMS = "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
SCOPED = f"AWS4-HMAC-SHA256 Credential=A/20240209/r/s/aws4_request, {GOOD_PARAMS}"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {
                **DATED,
                "Authorization": SCOPED.replace("SHA256", "SHA512"),
            },
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'",
        ),
        (
            {**DATED, "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, {GOOD_PARAMS}"},
            "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE'",
        ),
        (
            {
                "Host": "h",
                "X-Amz-Date": "2024-02-09T18:23:27Z",
                "Authorization": SCOPED,
            },
            "Date must be in ISO-8601 'basic format'. Got '2024-02-09T18:23:27Z'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            {
                "Host": "h",
                "X-Amz-Date": "20241309T182327Z",
                "Authorization": SCOPED,
            },
            "Date must be in ISO-8601 'basic format'. Got '20241309T182327Z'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            {
                "Host": "h",
                "Date": "yesterday",
                "Authorization": SCOPED,
            },
            "Date must be in ISO-8601 'basic format'. Got 'yesterday'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            {
                "Host": "h",
                "Date": "Fri, 31 Dec 9999 23:59:59 -0100",  # found by fuzzing: was a 500
                "Authorization": SCOPED,
            },
            "Date must be in ISO-8601 'basic format'. Got 'Fri, 31 Dec 9999 23:59:59 -0100'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            {
                **DATED,
                "Authorization": "AWS4-HMAC-SHA256 Credential=A/20240209/r/s/aws4_request, "
                "SignedHeaders=x-amz-date, Signature=00",
            },
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
    ],
    ids=[
        "algorithm",
        "credential",
        "date-format",
        "date-value",
        "http-date",
        "http-date-overflow",
        "host-unsigned",
    ],
)
def test_malformed_authorization(headers, message):
    assert _incomplete(headers) == message


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "X-Amz-Signature=00",
            "AWS query-string parameters must include 'X-Amz-Algorithm'. "
            "AWS query-string parameters must include 'X-Amz-Credential'. "
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "AWS query-string parameters must include 'X-Amz-Date'. "
            "Re-examine the query-string parameters.",
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20240209%2Fr%2Fs%2Faws4_request",
            "AWS query-string parameters must include 'X-Amz-Signature'. "
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "AWS query-string parameters must include 'X-Amz-Date'. "
            "Re-examine the query-string parameters.",
        ),
        (
            "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=A&X-Amz-Signature=00"
            "&X-Amz-SignedHeaders=host&X-Amz-Date=20240209T182327Z",
            "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'",
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20240209%2Fr%2Fs%2Faws4_request"
            "&X-Amz-Signature=00&X-Amz-SignedHeaders=host&X-Amz-Date=20240209T182327Z"
            "&X-Amz-Expires=soon",
            "X-Amz-Expires should be a number",
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20240209%2Fr%2Fs%2Faws4_request"
            "&X-Amz-Signature=00&X-Amz-SignedHeaders=host&X-Amz-Date=20240209T182327Z"
            "&X-Amz-Expires=-1",
            "X-Amz-Expires must be non-negative",
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20240209%2Fr%2Fs%2Faws4_request"
            "&X-Amz-Signature=00&X-Amz-SignedHeaders=host&X-Amz-Date=20240209T182327Z"
            f"&X-Amz-Expires={MAX_EXPIRES_SECONDS + 1}",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20240209%2Fr%2Fs%2Faws4_request"
            "&X-Amz-Signature=00&X-Amz-SignedHeaders=x-amz-date&X-Amz-Date=20240209T182327Z",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
    ],
    ids=[
        "only-signature",
        "half",
        "algorithm",
        "expires-text",
        "expires-negative",
        "expires-long",
        "host",
    ],
)
def test_malformed_query_signature(query, message):
    assert _incomplete({"Host": "h"}, f"/dev?{query}") == message


def test_presigned_url_valid_for_a_week_is_allowed():
    sent = sign("GET", "https://ws.example.com/dev", expires=MAX_EXPIRES_SECONDS)
    assert check(sent, now=sent.signed_at + timedelta(days=7)) == KEY


# --- the error reaches boto3 as the right exception ----------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token"),
        SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        ),
        SignatureError("InvalidSignatureException", MISMATCH + "\n\nThe Canonical String ...'\n"),
        SignatureError(
            "IncompleteSignatureException", "Authorization header requires 'Signature' parameter."
        ),
    ],
    ids=lambda e: e.error_type,
)
def test_error_response_parses_in_botocore(error):
    status, headers, body = error_response(error)
    assert status == 403
    assert json.loads(body) == {"message": error.message}
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1}),
    )

    class Raw:
        def stream(self, **_):
            return iter([body])

    def before_send(request, **_):
        return AWSResponse(request.url, status, HTTPHeaders.from_dict(headers), Raw())

    client.meta.events.register("before-send", before_send)
    with pytest.raises(ClientError) as caught:
        client.get_connection(ConnectionId="x=")
    assert caught.value.response["Error"]["Code"] == error.error_type
    assert caught.value.response["Error"]["Message"] == error.message
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_error_response_shape():
    status, headers, body = error_response(
        SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    )
    assert (status, body) == (403, b'{"message":"Missing Authentication Token"}')
    assert headers == {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "MissingAuthenticationTokenException",
    }


def test_quote_helper_matches_botocore_label_encoding():
    # Guards the assumption the id tests rely on: boto3 encodes labels with safe '-._~'.
    assert boto_request("get_connection", ConnectionId="a/b=").target.endswith(
        quote("a/b=", safe="-._~")
    )
