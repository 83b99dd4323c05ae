"""Which names local functions send to the gateway, and what each runtime is told."""

from __future__ import annotations

import json
import socket

import pytest

from wsgate.integrations import callback
from wsgate.integrations.callback import (
    REDIRECTS_VARIABLE,
    decode_redirects,
    encode_redirects,
    execute_api_host,
    find_redirect,
    install_redirects,
    plan_callback,
    split_host_port,
)

OURS = "abc123defg.execute-api.us-east-1.amazonaws.com"


def _plan(**changes):
    arguments = {
        "api_id": "abc123defg",
        "region": "us-east-1",
        "stage": "dev",
        "domain_name": None,
        "public": ("127.0.0.1", 8080),
        "listener_port": 9999,
    }
    return plan_callback(**(arguments | changes))


def test_execute_api_host_is_aws_s_name():
    assert execute_api_host("AbC123defg", "eu-west-1") == (
        "abc123defg.execute-api.eu-west-1.amazonaws.com"
    )


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("chat.example.com", ("chat.example.com", 443)),
        ("Chat.Example.com.", ("chat.example.com", 443)),
        ("chat.example.com:8443", ("chat.example.com", 8443)),
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::1]", ("::1", 443)),
        ("::1", ("::1", 443)),
        ("host:notaport", ("host", 443)),
    ],
)
def test_split_host_port(authority, expected):
    assert split_host_port(authority) == expected


def test_the_api_s_own_name_and_the_public_listener_go_to_the_functions_listener():
    plan = _plan()
    assert plan.redirects == {
        (OURS, 443): 9999,
        ("localhost", 8080): 9999,
        ("127.0.0.1", 8080): 9999,
        ("::1", 8080): 9999,
    }
    assert plan.names == (OURS, "localhost", "127.0.0.1", "::1")
    assert plan.endpoint == f"https://{OURS}/dev"
    assert plan.direct_endpoint == "http://127.0.0.1:9999/dev"


def test_a_configured_domain_name_is_redirected_and_named():
    plan = _plan(domain_name="Chat.Example.com", public=None)
    assert plan.redirects == {(OURS, 443): 9999, ("chat.example.com", 443): 9999}
    assert plan.names == (OURS, "chat.example.com", "localhost", "127.0.0.1", "::1")


@pytest.mark.parametrize(
    ("host", "extra"), [("0.0.0.0", []), ("::", []), ("192.0.2.7", ["192.0.2.7"])]
)
def test_a_public_listener_on_a_named_address_is_covered_too(host, extra):
    plan = _plan(public=(host, 8080))
    assert list(plan.names[4:]) == extra
    assert {(h, p) for h, p in plan.redirects if h in extra} == {(h, 8080) for h in extra}


def test_each_runtime_family_gets_what_it_can_use():
    plan = _plan()
    python = plan.environment("python", ca_bundle="/b.pem", extra_ca="/ca.pem")
    assert python == {
        "AWS_CA_BUNDLE": "/b.pem",
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": f"https://{OURS}/dev",
        REDIRECTS_VARIABLE: encode_redirects(plan.redirects),
    }
    node = plan.environment("nodejs", ca_bundle="/b.pem", extra_ca="/ca.pem")
    assert node == {**python, "NODE_EXTRA_CA_CERTS": "/ca.pem"}
    provided = plan.environment("provided", ca_bundle="/b.pem", extra_ca="/ca.pem")
    assert provided == {
        "AWS_CA_BUNDLE": "/b.pem",
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": "http://127.0.0.1:9999/dev",
    }


def test_redirects_survive_the_environment():
    redirects = _plan().redirects
    assert decode_redirects(encode_redirects(redirects)) == dict(redirects)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "not json",
        '{"a": 1}',
        "[[1, 2, 3]]",
        '[["h", 443]]',
        '[["h", 0, 1]]',
        '[["h", 443, 70000]]',
        '[["h", "443", 1]]',
    ],
)
def test_malformed_redirects_are_none(text):
    assert decode_redirects(text) == {}


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (OURS, 443, 9999),
        (OURS.upper() + ".", "443", 9999),
        (OURS.encode(), b"https", 9999),
        (OURS, "https", 9999),
        (OURS, 80, None),
        (OURS, "http", None),
        (OURS, "gopher", None),
        (OURS, None, None),
        ("zz9876wxyz.execute-api.us-east-1.amazonaws.com", 443, None),
        ("abc123defg.execute-api.eu-west-1.amazonaws.com", 443, None),
        ("127.0.0.1", 8080, 9999),
        ("[::1]", 8080, 9999),
        ("0:0:0:0:0:0:0:1", 8080, 9999),
        ("127.0.0.1", 443, None),
        (None, 443, None),
    ],
)
def test_find_redirect(host, port, expected):
    assert find_redirect(_plan().redirects, host, port) == expected


def test_install_redirects_changes_only_the_address(monkeypatch):
    calls = []

    def resolve(host, port, *args, **kwargs):
        calls.append((host, port, args, kwargs))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    install_redirects({(OURS, 443): 9999})
    assert socket.getaddrinfo(OURS, 443, 0, socket.SOCK_STREAM)[0][4] == ("127.0.0.1", 9999)
    assert socket.getaddrinfo("example.com", 443, type=socket.SOCK_STREAM)[0][4] == (
        "example.com",
        443,
    )
    assert calls[0][2] == (0, socket.SOCK_STREAM)
    assert calls[1][3] == {"type": socket.SOCK_STREAM}


def test_no_redirects_leave_getaddrinfo_alone(monkeypatch):
    original = socket.getaddrinfo
    install_redirects({})
    assert socket.getaddrinfo is original


def test_the_variable_is_a_json_list():
    assert json.loads(encode_redirects({(OURS, 443): 1})) == [[OURS, 443, 1]]
    assert callback.REDIRECTS_VARIABLE == "WSGATE_CALLBACK_REDIRECTS"
