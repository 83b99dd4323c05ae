"""Connection, request and message ids in AWS's shape, and X-Ray style trace ids.

AWS ids are 16 characters: 15 from the URL-safe base64 alphabet and a trailing ``=``
(``BFHPhfCWIAMCKlQ=``, §1.5). Randomness arrives as an argument so this module stays pure.
"""

from __future__ import annotations

import base64
from typing import Final

__all__ = [
    "BATCH_CHUNK",
    "ID_RANDOM_BYTES",
    "TRACE_RANDOM_BYTES",
    "format_id",
    "format_ids",
    "format_trace_id",
    "is_valid_id",
]

ID_RANDOM_BYTES: Final = 11  # 11 bytes encode to 15 characters and one "=".
TRACE_RANDOM_BYTES: Final = 12
_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def format_id(random: bytes) -> str:
    """Turn 11 random bytes into an AWS-shaped id."""
    if len(random) != ID_RANDOM_BYTES:
        raise ValueError(f"need {ID_RANDOM_BYTES} bytes, got {len(random)}")
    return _no_dash_first(base64.urlsafe_b64encode(random).decode("ascii"))


BATCH_CHUNK: Final = 12  # 12 bytes encode to 16 characters with no padding


def format_ids(random: bytes) -> list[str]:
    """Turn ``12 * n`` random bytes into ``n`` AWS-shaped ids with one encoding pass.

    Each 12-byte chunk gives 16 characters; the first 15 and a trailing ``=`` make an id. No id
    starts with ``-``.
    """
    if not random or len(random) % BATCH_CHUNK:
        raise ValueError(f"need a positive multiple of {BATCH_CHUNK} bytes, got {len(random)}")
    # Every id is one 16-character slice of the encoding: its last character becomes "=" and
    # a leading "-" becomes "_", both done on every slice at once (extended slices).
    encoded = bytearray(base64.urlsafe_b64encode(random))
    count = len(encoded) // 16
    encoded[15::16] = b"=" * count
    encoded[0::16] = encoded[0::16].replace(b"-", b"_")
    text = encoded.decode("ascii")
    return [text[start : start + 16] for start in range(0, len(text), 16)]


def _no_dash_first(text: str) -> str:
    # An id that starts with "-" reads as an option on command lines (wsgate post URL -abc=):
    # such a first character becomes "_", which costs the id a sixty-fourth of one bit.
    return "_" + text[1:] if text[0] == "-" else text


def is_valid_id(text: str) -> bool:
    """True for strings shaped like the ids this gateway hands out."""
    return len(text) == 16 and text[15] == "=" and all(char in _ALPHABET for char in text[:15])


def format_trace_id(epoch_seconds: int, random: bytes) -> str:
    """Build an ``X-Amzn-Trace-Id`` value: ``Root=1-<8 hex time>-<24 hex random>``."""
    if len(random) != TRACE_RANDOM_BYTES:
        raise ValueError(f"need {TRACE_RANDOM_BYTES} bytes, got {len(random)}")
    return f"Root=1-{epoch_seconds:08x}-{random.hex()}"
