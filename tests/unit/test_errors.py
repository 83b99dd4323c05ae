"""The exception tree and how each error formats itself."""

from __future__ import annotations

import dataclasses

import pytest

import wsgate.errors as errors
from wsgate.errors import (
    AuthenticationError,
    AuthorizationError,
    AuthorizerResultError,
    ConfigError,
    ConfigIssue,
    ConnectionNotFound,
    FunctionError,
    GatewayError,
    IntegrationBadResponse,
    IntegrationError,
    IntegrationTimeout,
    IntegrationUnavailable,
    ManagementError,
    PolicyError,
    RegistryError,
    RegistryUnavailable,
    RoutingError,
    SignatureError,
    TemplateError,
    TlsError,
)


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (ConfigError, (GatewayError,)),
        (RoutingError, (GatewayError,)),
        (TemplateError, (GatewayError,)),
        (IntegrationError, (GatewayError,)),
        (IntegrationTimeout, (IntegrationError, TimeoutError, OSError)),
        (IntegrationUnavailable, (IntegrationError,)),
        (IntegrationBadResponse, (IntegrationError,)),
        (FunctionError, (IntegrationError,)),
        (RegistryError, (GatewayError,)),
        (ConnectionNotFound, (RegistryError, LookupError)),
        (RegistryUnavailable, (RegistryError,)),
        (ManagementError, (GatewayError,)),
        (AuthorizationError, (GatewayError,)),
        (PolicyError, (AuthorizationError,)),
        (AuthorizerResultError, (AuthorizationError,)),
        (AuthenticationError, (GatewayError,)),
        (SignatureError, (AuthenticationError,)),
        (TlsError, (GatewayError,)),
        (GatewayError, (Exception,)),
    ],
)
def test_tree(error, bases):
    for base in bases:
        assert issubclass(error, base)


@pytest.mark.parametrize(
    ("error", "not_a"),
    [
        (IntegrationUnavailable, TimeoutError),
        (RegistryUnavailable, LookupError),
        (ConfigError, ValueError),
        (RoutingError, ValueError),
        (ManagementError, RegistryError),
        (AuthorizationError, IntegrationError),
        (PolicyError, ValueError),
        (AuthorizerResultError, ValueError),
        (AuthenticationError, AuthorizationError),
        (SignatureError, ManagementError),
        (TlsError, ConfigError),
        (TlsError, OSError),
    ],
)
def test_tree_has_no_stray_bases(error, not_a):
    assert not issubclass(error, not_a)


def test_all_names_exist():
    for name in errors.__all__:
        value = getattr(errors, name)
        assert value is ConfigIssue or issubclass(value, GatewayError), name


@pytest.mark.parametrize(
    ("issue", "text"),
    [
        (
            ConfigIssue("routes.x.target", "no integration named 'y'"),
            "routes.x.target: no integration named 'y'",
        ),
        (
            ConfigIssue("", "the file must hold a mapping at the top level"),
            "the file must hold a mapping at the top level",
        ),
    ],
)
def test_config_issue_str(issue, text):
    assert str(issue) == text


def test_config_issue_is_a_frozen_value():
    issue = ConfigIssue("a", "b")
    assert issue == ConfigIssue("a", "b")
    assert hash(issue) == hash(ConfigIssue("a", "b"))
    assert len({issue, ConfigIssue("a", "b"), ConfigIssue("a", "c")}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        issue.path = "c"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("issues", "source", "text"),
    [
        ([ConfigIssue("a", "bad")], "", "1 error in config\n  a: bad"),
        ([ConfigIssue("a", "bad")], "api.yaml", "api.yaml: 1 error in config\n  a: bad"),
        (
            [ConfigIssue("a", "bad"), ConfigIssue("", "worse")],
            "api.yaml",
            "api.yaml: 2 errors in config\n  a: bad\n  worse",
        ),
        ([], "", "0 errors in config\n"),
    ],
)
def test_config_error(issues, source, text):
    error = ConfigError(issues, source)
    assert str(error) == text
    assert error.args == (text,)
    assert error.issues == issues
    assert error.source == source


def test_routing_error():
    error = RoutingError("$request.header.x", "unsupported variable")
    assert (error.expression, error.reason) == ("$request.header.x", "unsupported variable")
    assert str(error) == "invalid selection expression '$request.header.x': unsupported variable"


@pytest.mark.parametrize("kind", [IntegrationError, IntegrationTimeout, IntegrationUnavailable])
def test_integration_errors(kind):
    error = kind("chat", "no answer in 29000 ms")
    assert (error.integration, error.reason) == ("chat", "no answer in 29000 ms")
    assert str(error) == "integration 'chat': no answer in 29000 ms"


@pytest.mark.parametrize("status", [None, 500])
def test_integration_bad_response(status):
    error = IntegrationBadResponse("chat", "not JSON", status)
    assert error.status == status
    assert str(error) == "integration 'chat': not JSON"


def test_integration_bad_response_status_defaults_to_none():
    assert IntegrationBadResponse("chat", "x").status is None


@pytest.mark.parametrize(
    ("stack", "kept"),
    [(None, []), ([], []), (['  File "h.py", line 1\n'], ['  File "h.py", line 1\n'])],
)
def test_function_error(stack, kept):
    error = FunctionError("chat", "KeyError", "'x'", stack)
    assert (error.error_type, error.error_message, error.stack) == ("KeyError", "'x'", kept)
    assert error.reason == "KeyError: 'x'"
    assert str(error) == "integration 'chat': KeyError: 'x'"


def test_function_error_without_stack():
    assert FunctionError("chat", "E", "m").stack == []


def test_connection_not_found():
    error = ConnectionNotFound("BFHPhfCWIAMCKlQ=")
    assert error.connection_id == "BFHPhfCWIAMCKlQ="
    assert str(error) == "no live connection 'BFHPhfCWIAMCKlQ='"
    with pytest.raises(LookupError):
        raise error


@pytest.mark.parametrize(
    ("status", "error_type", "message", "text"),
    [
        (410, "GoneException", None, "410 GoneException"),
        (410, "GoneException", "", "410 GoneException"),
        (
            413,
            "PayloadTooLargeException",
            "Request entity too large",
            "413 PayloadTooLargeException: Request entity too large",
        ),
    ],
)
def test_management_error(status, error_type, message, text):
    error = ManagementError(status, error_type, message)
    assert (error.status, error.error_type, error.message) == (status, error_type, message)
    assert str(error) == text


@pytest.mark.parametrize(
    "kind", [TemplateError, RegistryError, RegistryUnavailable, AuthenticationError, GatewayError]
)
def test_plain_errors(kind):
    assert str(kind("text")) == "text"


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (AuthorizationError, "unusable authorizer answer: principalId is missing"),
        (PolicyError, "invalid policy document: principalId is missing"),
        (AuthorizerResultError, "invalid authorizer result: principalId is missing"),
    ],
)
def test_authorization_errors(kind, text):
    error = kind("principalId is missing")
    assert error.reason == "principalId is missing"
    assert str(error) == text
    assert error.args == (text,)


@pytest.mark.parametrize(
    ("args", "fields", "text"),
    [
        (
            ("MissingAuthenticationTokenException", "Missing Authentication Token"),
            (403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
            "403 MissingAuthenticationTokenException: Missing Authentication Token",
        ),
        (
            ("InvalidSignatureException", "Signature expired", 400),
            (400, "InvalidSignatureException", "Signature expired"),
            "400 InvalidSignatureException: Signature expired",
        ),
    ],
)
def test_signature_error(args, fields, text):
    error = SignatureError(*args)
    assert (error.status, error.error_type, error.message) == fields
    assert str(error) == text
    assert error.args == (text,)


def test_tls_error():
    error = TlsError("/etc/wsgate/server-key.pem", "cannot read: Permission denied")
    assert (error.path, error.reason) == (
        "/etc/wsgate/server-key.pem",
        "cannot read: Permission denied",
    )
    assert str(error) == "/etc/wsgate/server-key.pem: cannot read: Permission denied"
