"""SigV4 verification over any request (wsgate.security.sigv4).

Two properties: whatever arrives, ``verify`` answers with the signer or ``SignatureError`` and
nothing else; and a request botocore signed verifies, while changing any one character of its
signature, path, a signed header or its body makes it fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import example, given, strategies as st
from multidict import CIMultiDict

from tests.fuzz.strategies import texts
from wsgate.errors import SignatureError
from wsgate.security.sigv4 import Credentials, CredentialStore, verify

REGION = "us-east-1"
KEY = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "user/al")
TEMPORARY = Credentials("ASIAEXAMPLE", "temporary/secret", "role/r", "tok/+=en")
STORE = CredentialStore([KEY, TEMPORARY])
NOW = datetime(2024, 2, 9, 18, 23, 27, tzinfo=UTC)
_STAMP = NOW.strftime("%Y%m%dT%H%M%SZ")
_SCOPE = f"{_STAMP[:8]}/{REGION}/execute-api/aws4_request"

# Pieces of real signatures, so that the fuzzer gets past the first checks.
_AUTH_PIECES = st.sampled_from(
    [
        "AWS4-HMAC-SHA256 ",
        f"Credential=AKIDEXAMPLE/{_SCOPE}",
        f"Credential=ASIAEXAMPLE/{_SCOPE}",
        "Credential=AKIDEXAMPLE/20240209/eu-west-1/s3/aws4_req",
        "SignedHeaders=host;x-amz-date",
        "SignedHeaders=host",
        "SignedHeaders=",
        "Signature=" + "0" * 64,
        "Signature=",
        ", ",
        ",",
        " ",
        "=",
    ]
)
_DATES = st.sampled_from(
    [
        _STAMP,
        "20240209T182327",
        "00000000T000000Z",
        "99991231T235959Z",
        "\u0662\u0660\u0662\u0664\u0660\u0662\u0660\u0669T182327Z",  # Arabic-Indic digits
        "Fri, 09 Feb 2024 18:23:27 GMT",
        "Mon, 01 Jan 0001 00:00:00 +0100",
        "Fri, 31 Dec 9999 23:59:59 -0100",
        "Fri, 09 Feb 2024 18:23:27 -0000",
    ]
)
_QUERY_PIECES = st.sampled_from(
    [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=" + quote(f"AKIDEXAMPLE/{_SCOPE}", safe=""),
        "X-Amz-Date=" + _STAMP,
        "X-Amz-Expires=300",
        "X-Amz-Expires=-1",
        "X-Amz-Expires=99999999999999999999",
        "X-Amz-Expires=\u0663",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Signature=" + "0" * 64,
        "X-Amz-Security-Token=tok%2F%2B%3Den",
        "&",
        "=",
        "%",
        "%E9",
        "%ZZ",
    ]
)
_header_names = st.sampled_from(
    ["Authorization", "X-Amz-Date", "Date", "X-Amz-Security-Token", "Host", "X-Other"]
)
# aiohttp decodes request lines and headers as UTF-8 with surrogateescape: bytes that are not
# UTF-8 arrive as lone surrogates (\udc80-\udcff).
_escaped = st.binary(max_size=8).map(lambda raw: raw.decode("utf-8", "surrogateescape"))
_values = st.one_of(
    texts, _escaped, _DATES, st.lists(_AUTH_PIECES | texts, max_size=8).map("".join)
)
_paths = st.one_of(
    st.lists(st.sampled_from(["/", "dev", "@connections", "%40", "%2F", "~", "."]) | texts)
    .map("".join)
    .map(lambda path: "/" + path),
    _escaped.map(lambda path: "/dev/" + path),
)
_queries = st.lists(_QUERY_PIECES | texts, max_size=8).map("&".join)


_AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{_SCOPE}, SignedHeaders=host;x-amz-date;x-other, "
    f"Signature={'0' * 64}"
)
# A claim that passes every check before the signature's, so the fuzzer reaches botocore.
_CLAIM = [("Authorization", _AUTHORIZATION), ("X-Amz-Date", _STAMP), ("Host", "h")]


@given(
    st.sampled_from(["GET", "POST", "DELETE"]) | texts,
    _paths,
    st.none() | _queries,
    st.lists(st.tuples(_header_names | texts, _values), max_size=6).flatmap(
        lambda headers: st.sampled_from([headers, _CLAIM + headers])
    ),
    st.binary(max_size=32),
    st.sampled_from([NOW, NOW.replace(tzinfo=None)]),  # the server's clock: naive is UTC
)
# Bytes that are not UTF-8 in the path, the query or a signed header reached botocore's
# canonical request, which encodes it as UTF-8: UnicodeEncodeError, a 500.
@example("GET", "/dev/@connections/\udcff", None, _CLAIM, b"", NOW)
@example("GET", "/dev", "a=\udcff", _CLAIM, b"", NOW)
@example("GET", "/dev", None, [*_CLAIM, ("X-Other", "\udcff")], b"", NOW)
@example("\udcff", "/dev", None, _CLAIM, b"", NOW)
# A Date header at the ends of the calendar: converting it to UTC overflowed, a 500.
@example("GET", "/dev", None, [_CLAIM[0], ("Date", "Mon, 01 Jan 0001 00:00:00 +0100")], b"", NOW)
@example("GET", "/dev", None, [_CLAIM[0], ("Date", "Fri, 31 Dec 9999 23:59:59 -0100")], b"", NOW)
def test_any_request_verifies_or_raises_signature_error(method, path, query, headers, body, now):
    target = path if query is None else f"{path}?{query}"
    try:
        signer = verify(method, target, CIMultiDict(headers), body, STORE, REGION, now)
    except SignatureError:
        return
    # Nothing but a real signature gets here, and no test input holds one.
    raise AssertionError(f"accepted as {signer}")


@dataclass(frozen=True)
class _Sent:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


def _sign(
    method: str, url: str, headers: dict[str, str], body: bytes, credentials: Credentials, query
) -> _Sent:
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    boto = BotoCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    if query:
        SigV4QueryAuth(boto, "execute-api", REGION, expires=300).add_auth(request)
    else:
        SigV4Auth(boto, "execute-api", REGION).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    sent_headers = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in prepared.headers.items()
    }
    sent_headers.setdefault("Host", parts.netloc)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    assert prepared.body is None or isinstance(prepared.body, bytes)
    return _Sent(method, target, sent_headers, prepared.body or b"")


def _signed_headers(target: str, headers: dict[str, str]) -> set[str]:
    if "Authorization" in headers:
        listed = headers["Authorization"].partition("SignedHeaders=")[2].partition(",")[0]
    else:
        listed = parse_qs(urlsplit(target).query)["X-Amz-SignedHeaders"][0]
    return set(listed.split(";"))


def _signed_at(sent: _Sent) -> datetime:
    # botocore signs at its own clock's time, which the request names.
    stamp = sent.headers.get("X-Amz-Date") or parse_qs(urlsplit(sent.target).query)["X-Amz-Date"][0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


_printable = st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.characters(
    min_codepoint=0xA1, max_codepoint=0x2FF
)
_ids = st.text(_printable | st.sampled_from(" /=+%~"), min_size=1, max_size=12)
_header_values = st.text(_printable | st.just(" "), max_size=12).map(lambda v: "v" + v)


def _replace_one(text: str, index: int, other: str, *, skip: str = "") -> str | None:
    """``text`` with one character changed to ``other``, or None when it cannot differ."""
    choices = [i for i, char in enumerate(text) if char not in skip and char != other]
    if not choices:
        return None
    position = choices[index % len(choices)]
    return text[:position] + other + text[position + 1 :]


@given(
    st.sampled_from(["GET", "POST", "DELETE"]),
    _ids,
    st.none() | st.lists(st.tuples(st.sampled_from("abc"), _ids), max_size=3),
    st.dictionaries(st.sampled_from(["X-Custom", "Content-Type", "X-Amz-Meta"]), _header_values),
    st.binary(max_size=32),
    st.sampled_from([KEY, TEMPORARY]),
    st.booleans(),
    st.sampled_from(["signature", "path", "header", "body"]),
    st.integers(0, 1000),
    _printable,
)
@example("GET", "0", None, {}, b"", KEY, False, "path", 0, "[")  # "Invalid IPv6 URL", a 500
def test_signed_requests_verify_and_any_one_change_fails(
    method, connection_id, params, headers, body, credentials, presigned, part, index, char
):
    url = f"https://abc.execute-api.us-east-1.amazonaws.com/dev/@connections/{quote(connection_id)}"
    if params:
        url += "?" + "&".join(f"{name}={quote(value, safe='')}" for name, value in params)
    # A presigned URL carries no body: botocore would move it into the query.
    sent = _sign(method, url, headers, b"" if presigned else body, credentials, presigned)
    now = _signed_at(sent)
    assert verify(sent.method, sent.target, sent.headers, sent.body, STORE, REGION, now) == (
        credentials
    )
    target, changed, data = sent.target, dict(sent.headers), sent.body
    if part == "signature":
        signature = "X-Amz-Signature=" if presigned else "Signature="
        head, _, tail = (target if presigned else changed["Authorization"]).partition(signature)
        mutated = _replace_one(tail[:64], index, char)
        if mutated is None:
            return
        if presigned:
            target = head + signature + mutated + tail[64:]
        else:
            changed["Authorization"] = head + signature + mutated + tail[64:]
    elif part == "path":
        path, _, query = target.partition("?")
        mutated = _replace_one(path, index, char, skip="?")
        if mutated is None:
            return
        target = mutated + (f"?{query}" if query else "")
    elif part == "header":
        signed = _signed_headers(target, changed)
        names = [name for name in changed if name.lower() in signed]
        name = names[index % len(names)]
        # Canonical headers collapse whitespace (SigV4), so only visible characters count.
        mutated = _replace_one(changed[name], index, char, skip=" \t")
        if mutated is None or char.isspace():
            return
        changed[name] = mutated
    else:
        if not data:
            return
        data = (
            data[: index % len(data)]
            + bytes([data[index % len(data)] ^ 1])
            + data[index % len(data) + 1 :]
        )
    try:
        verify(sent.method, target, changed, data, STORE, REGION, now)
    except SignatureError:
        return
    raise AssertionError(f"a changed {part} still verifies: {target!r} {changed!r}")
