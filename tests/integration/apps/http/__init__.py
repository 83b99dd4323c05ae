"""Configs and an ASGI app for tests/integration/test_http_integrations.py."""
