"""AWS-shaped ids and X-Ray trace ids (§1.5 of the AWS reference)."""

from __future__ import annotations

import string

import pytest

from wsgate.core.ids import (
    ID_RANDOM_BYTES,
    TRACE_RANDOM_BYTES,
    format_id,
    format_trace_id,
    is_valid_id,
)

_URLSAFE = set(string.ascii_letters + string.digits + "-_")


@pytest.mark.parametrize(
    ("random", "text"),
    [
        (bytes(11), "AAAAAAAAAAAAAAA="),
        (bytes(range(11)), "AAECAwQFBgcICQo="),
        # Bytes whose standard base64 holds "/" and "+": the URL-safe alphabet is used instead.
        (b"\xff" * 11, "______________8="),
        # No id starts with "-", which a command line would read as an option.
        (b"\xfb\xef\xbe" * 3 + b"\xfb\xef", "_-------------8="),
        (bytes(range(200, 211)), "yMnKy8zNzs_Q0dI="),
    ],
)
def test_format_id(random, text):
    assert format_id(random) == text
    assert len(text) == 16
    assert text.endswith("=")
    assert set(text[:15]) <= _URLSAFE
    assert is_valid_id(text)


@pytest.mark.parametrize("size", [0, 1, 10, 12, 16])
def test_format_id_needs_eleven_bytes(size):
    assert ID_RANDOM_BYTES == 11
    with pytest.raises(ValueError, match=f"need 11 bytes, got {size}"):
        format_id(bytes(size))


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        # Ids captured from real AWS events.
        ("BFHPhfCWIAMCKlQ=", True),
        ("eHrdFcnvvHcCE-w=", True),
        ("BFaT_fALIAMCKug=", True),
        ("BFHPhFe3IAMF95g=", True),
        ("Xa1bC0zyIAMCKlQ=", True),
        ("---------------=", True),
        ("", False),
        ("=", False),
        ("BFHPhfCWIAMCKlQ", False),  # 15 characters
        ("BFHPhfCWIAMCKl=", False),  # 15 characters
        ("BFHPhfCWIAMCKlQ==", False),  # 17 characters
        ("BFHPhfCWIAMCKlQA", False),  # no trailing "="
        ("BFHPhfCWIAMCKl==", False),  # "=" inside
        ("BFHPhfCWIAMC+lQ=", False),  # standard, not URL-safe, base64
        ("BFHPhfCWIAMC/lQ=", False),
        ("BFHPhfCWIAMC lQ=", False),
        ("BFHPhfCWIAMCKlé=", False),
        ("BFHPhfCWIAMCK%3D", False),  # URL-encoded "="
    ],
)
def test_is_valid_id(text, valid):
    assert is_valid_id(text) is valid


@pytest.mark.parametrize(
    ("epoch_seconds", "random", "trace_id"),
    [
        (1707503007, bytes(range(12)), "Root=1-65c66d9f-000102030405060708090a0b"),
        (0, bytes(12), "Root=1-00000000-000000000000000000000000"),
        (15, b"\xff" * 12, "Root=1-0000000f-ffffffffffffffffffffffff"),
    ],
)
def test_format_trace_id(epoch_seconds, random, trace_id):
    assert format_trace_id(epoch_seconds, random) == trace_id
    assert len(trace_id) == len("Root=1-") + 8 + 1 + 24


@pytest.mark.parametrize("size", [0, 11, 13])
def test_format_trace_id_needs_twelve_bytes(size):
    assert TRACE_RANDOM_BYTES == 12
    with pytest.raises(ValueError, match=f"need 12 bytes, got {size}"):
        format_trace_id(0, bytes(size))


def test_format_ids_batches() -> None:
    from wsgate.core.ids import format_ids

    random = bytes(range(48))
    batch = format_ids(random)
    assert len(batch) == 4
    assert all(is_valid_id(item) for item in batch)
    assert len(set(batch)) == 4
    dashes = format_ids(b"\xfb\xef\xbe" * 8)
    assert dashes == ["_--------------="] * 2


@pytest.mark.parametrize("size", [0, 11, 13, 25])
def test_format_ids_needs_whole_chunks(size: int) -> None:
    from wsgate.core.ids import format_ids

    with pytest.raises(ValueError, match="multiple of 12"):
        format_ids(b"x" * size)
