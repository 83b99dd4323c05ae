"""Fuzz tests run with the Hypothesis profile ``WSGATE_FUZZ_PROFILE`` names (default ``ci``)."""

from __future__ import annotations

from tests.fuzz import profiles

profiles.load()
