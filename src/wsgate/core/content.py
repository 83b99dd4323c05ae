"""Content handling between text and binary frames (§3.8).

``ContentHandlingStrategy`` converts in one direction each: on an integration it shapes what the
backend receives from a client message, on an integration response what the client receives
from a backend body. Unset means no conversion: text stays text, binary stays binary.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final, Literal, TypeAlias, cast

__all__ = [
    "CONTENT_HANDLING_STRATEGIES",
    "ContentError",
    "ContentHandling",
    "client_message",
    "parse_content_handling",
    "request_body",
    "template_text",
]

ContentHandling: TypeAlias = Literal["CONVERT_TO_TEXT", "CONVERT_TO_BINARY"] | None
CONTENT_HANDLING_STRATEGIES: Final = ("CONVERT_TO_TEXT", "CONVERT_TO_BINARY")

# ASCII whitespace is dropped before decoding base64: backends often end a body with a newline
# and MIME encoders wrap lines; neither can be data, so refusing them would help nobody.
_WHITESPACE: Final = b" \t\n\r\v\f"


# Not in errors.py's tree: a pure helper's refusal; its callers raise IntegrationBadResponse.
class ContentError(ValueError):
    """A payload cannot be converted as its content handling asks; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def parse_content_handling(value: str | None) -> ContentHandling:
    """Check a configured ``ContentHandlingStrategy``; None (unset) passes.

    Raises:
        ValueError: any other value than ``CONVERT_TO_TEXT`` or ``CONVERT_TO_BINARY``.
    """
    if value is None or value in CONTENT_HANDLING_STRATEGIES:
        return cast(ContentHandling, value)
    raise ValueError(
        f"unknown content handling {value!r}; expected CONVERT_TO_TEXT or CONVERT_TO_BINARY"
    )


def request_body(message: str | bytes, strategy: ContentHandling) -> bytes:
    """What the backend receives for a client message (text frames are str, binary bytes).

    ``CONVERT_TO_BINARY`` decodes a text message as base64; ``CONVERT_TO_TEXT`` base64-encodes a
    binary one. Text otherwise travels as UTF-8 and binary as is.

    Raises:
        ContentError: ``CONVERT_TO_BINARY`` and a text message that is not base64.
    """
    if isinstance(message, str):
        if strategy == "CONVERT_TO_BINARY":
            return _decode_base64(message.encode("utf-8"), "the message")
        return message.encode("utf-8")
    if strategy == "CONVERT_TO_TEXT":
        return base64.b64encode(message)
    return message


def client_message(body: bytes, strategy: ContentHandling) -> str | bytes:
    """What the client receives for a backend body: str for a text frame, bytes for binary.

    ``CONVERT_TO_TEXT`` sends UTF-8 as that text and anything else base64-encoded ("converts a
    binary payload to a base64-encoded string"); ``CONVERT_TO_BINARY`` decodes the body as base64
    into a binary frame. Unset, UTF-8 goes as text and anything else as binary.

    Raises:
        ContentError: ``CONVERT_TO_BINARY`` and a body that is not base64.
    """
    if strategy == "CONVERT_TO_BINARY":
        return _decode_base64(body, "the integration response")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        if strategy == "CONVERT_TO_TEXT":
            return base64.b64encode(body).decode("ascii")
        return body


def template_text(message: str | bytes) -> str:
    """The text ``$input.body`` shows for a message: text as is, binary base64-encoded.

    AWS evaluates templates over text only; giving binary frames a text form is wsgate's
    extension, so templates can at least pass them on.
    """
    if isinstance(message, str):
        return message
    return base64.b64encode(message).decode("ascii")


def _decode_base64(data: bytes, what: str) -> bytes:
    compact = data.translate(None, _WHITESPACE)
    # Padding is optional, as in Java's decoder that AWS runs; a lone trailing digit stays invalid.
    compact += b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as error:
        raise ContentError(f"{what} is not valid base64: {error}") from error
