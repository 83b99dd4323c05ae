"""IAM policy evaluation for Lambda authorizer results (§6.3 of the AWS reference)."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponseWebSocket,
)

from wsgate.core.policy import (
    INVOKE_ACTION,
    MAX_RESOURCE_LENGTH,
    Policy,
    compile_policy,
    evaluate_policy,
    json_type,
)
from wsgate.errors import AuthorizationError, GatewayError, PolicyError

_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abc123defg"
_ARN = f"{_PREFIX}/prod/$connect"
_OTHER = f"{_PREFIX}/prod/$default"


def _statement(effect="Allow", action=INVOKE_ACTION, resource=_ARN, **extra):
    statement = {"Effect": effect, **extra}
    if action is not None:
        statement["Action"] = action
    if resource is not None:
        statement["Resource"] = resource
    return statement


def _doc(*statements, version="2012-10-17"):
    document = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return document


@pytest.mark.parametrize(
    ("document", "resource", "action", "outcome"),
    [
        # The plain cases.
        (_doc(_statement()), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement()), _OTHER, INVOKE_ACTION, "implicit_deny"),
        (_doc(_statement("Deny")), _ARN, INVOKE_ACTION, "deny"),
        (_doc(), _ARN, INVOKE_ACTION, "implicit_deny"),
        # Statement as a single object; Version absent or the old one.
        ({"Statement": _statement()}, _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(), version=None), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(), version="2008-10-17"), _ARN, INVOKE_ACTION, "allow"),
        # An explicit Deny wins, whatever the order, and a wildcard Deny beats an exact Allow.
        (_doc(_statement(), _statement("Deny", resource="*")), _ARN, INVOKE_ACTION, "deny"),
        (_doc(_statement("Deny", resource="*"), _statement()), _ARN, INVOKE_ACTION, "deny"),
        (
            _doc(_statement(), _statement("Deny", resource="arn:aws:execute-api:*:*:*/*/*")),
            _ARN,
            INVOKE_ACTION,
            "deny",
        ),
        # A Deny that does not match leaves the Allow alone.
        (_doc(_statement(), _statement("Deny", resource=_OTHER)), _ARN, INVOKE_ACTION, "allow"),
        (
            _doc(_statement(), _statement("Deny", action="execute-api:ManageConnections")),
            _ARN,
            INVOKE_ACTION,
            "allow",
        ),
        (
            _doc(_statement("Deny", action="execute-api:ManageConnections")),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        # Resource wildcards: * crosses / and :, ? is exactly one character.
        (_doc(_statement(resource="*")), _ARN, INVOKE_ACTION, "allow"),
        (
            _doc(_statement(resource="arn:aws:execute-api:*:*:*/*/$connect")),
            _ARN,
            INVOKE_ACTION,
            "allow",
        ),
        (
            _doc(_statement(resource="arn:aws:execute-api:*:*:*/*/$connect")),
            _OTHER,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (_doc(_statement(resource=f"{_PREFIX}/*")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(resource="arn:aws:execute-api:*")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(resource=f"{_PREFIX}/pro?/$connect")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(resource=f"{_PREFIX}/p?/$connect")), _ARN, INVOKE_ACTION, "implicit_deny"),
        (
            _doc(_statement(resource=f"{_PREFIX}/prod?/$connect")),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        # Everything else in a pattern is literal: ".", "$", "+" are not regex syntax.
        (
            _doc(_statement(resource=f"{_PREFIX}/pr.d/$connect")),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (
            _doc(_statement(resource=f"{_PREFIX}/prod/.connect")),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (_doc(_statement(resource=f"{_PREFIX}/p+/$connect")), _ARN, INVOKE_ACTION, "implicit_deny"),
        # Resources compare case-sensitively.
        (
            _doc(_statement(resource=f"{_PREFIX}/PROD/$connect")),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (_doc(_statement(resource=_ARN.upper())), _ARN, INVOKE_ACTION, "implicit_deny"),
        # Actions compare case-insensitively, with the same wildcards.
        (_doc(_statement(action="execute-api:invoke")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(action="EXECUTE-API:INVOKE")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement()), _ARN, "execute-api:invoke", "allow"),
        (_doc(_statement(action="execute-api:*")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(action="*")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(action="execute-api:Inv*")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(action="execute-api:Invok?")), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(action="execute-api:Invoke?")), _ARN, INVOKE_ACTION, "implicit_deny"),
        (_doc(_statement(action="lambda:Invoke")), _ARN, INVOKE_ACTION, "implicit_deny"),
        (_doc(_statement(action="execute-api:*")), _ARN, "execute-api:ManageConnections", "allow"),
        # Lists and strings alike.
        (_doc(_statement(action=["s3:GetObject", INVOKE_ACTION])), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(action=["s3:GetObject"])), _ARN, INVOKE_ACTION, "implicit_deny"),
        (_doc(_statement(resource=[_OTHER, _ARN])), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(resource=[_OTHER])), _ARN, INVOKE_ACTION, "implicit_deny"),
        # NotAction and NotResource match what they do not list.
        (
            _doc(_statement(action=None, NotAction="execute-api:ManageConnections")),
            _ARN,
            INVOKE_ACTION,
            "allow",
        ),
        (
            _doc(_statement(action=None, NotAction="execute-api:*")),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (
            _doc(_statement(action=None, NotAction=["EXECUTE-API:invoke"])),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (_doc(_statement(resource=None, NotResource=_OTHER)), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(resource=None, NotResource=_ARN)), _ARN, INVOKE_ACTION, "implicit_deny"),
        (
            _doc(_statement(resource=None, NotResource=[f"{_PREFIX}/*/$connect"])),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (
            _doc(_statement(resource="*"), _statement("Deny", resource=None, NotResource=_OTHER)),
            _ARN,
            INVOKE_ACTION,
            "deny",
        ),
        (
            _doc(_statement(resource="*"), _statement("Deny", resource=None, NotResource=_ARN)),
            _ARN,
            INVOKE_ACTION,
            "allow",
        ),
        # Conditions cannot hold without condition keys: a conditional Allow never applies, a
        # conditional Deny always does (fail closed). An empty Condition is no condition.
        (
            _doc(_statement(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
        (
            _doc(
                _statement(),
                _statement("Deny", Condition={"Bool": {"aws:SecureTransport": "false"}}),
            ),
            _ARN,
            INVOKE_ACTION,
            "deny",
        ),
        (
            _doc(_statement(), _statement("Deny", resource=_OTHER, Condition={"Bool": {"k": "v"}})),
            _ARN,
            INVOKE_ACTION,
            "allow",
        ),
        (_doc(_statement(Condition={})), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(Condition=[])), _ARN, INVOKE_ACTION, "allow"),
        (_doc(_statement(Condition=[{"Bool": {"k": "v"}}])), _ARN, INVOKE_ACTION, "implicit_deny"),
        # Elements wsgate does not use are ignored.
        (_doc(_statement(Sid="s1", Principal="*")), _ARN, INVOKE_ACTION, "allow"),
        ({"Id": "p", **_doc(_statement())}, _ARN, INVOKE_ACTION, "allow"),
        # Policy variables are not expanded: they match literally.
        (
            _doc(_statement(resource=f"{_PREFIX}/${{aws:username}}/$connect")),
            _ARN,
            INVOKE_ACTION,
            "implicit_deny",
        ),
    ],
)
def test_evaluate_policy(document, resource, action, outcome):
    assert evaluate_policy(document, resource, action) == outcome
    assert evaluate_policy(document, action=action, resource=resource) == outcome


def test_evaluate_policy_defaults_to_invoke():
    assert evaluate_policy(_doc(_statement()), _ARN) == "allow"
    assert compile_policy(_doc(_statement())).evaluate(_ARN) == "allow"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "the document must be an object, got array"),
        ("Allow", "the document must be an object, got string"),
        (None, "the document must be an object, got null"),
        (
            {"Version": "2012-10-18", "Statement": []},
            "Version must be one of 2012-10-17, 2008-10-17, got '2012-10-18'",
        ),
        (
            {"Version": 2012, "Statement": []},
            "Version must be one of 2012-10-17, 2008-10-17, got 2012",
        ),
        (
            {"Version": ["2012-10-17"], "Statement": []},
            "Version must be one of 2012-10-17, 2008-10-17, got ['2012-10-17']",
        ),
        ({"Version": "2012-10-17"}, "Statement is missing"),
        ({"statement": []}, "Statement is missing"),
        ({"Statement": "Allow"}, "Statement must be an object or an array, got string"),
        ({"Statement": None}, "Statement must be an object or an array, got null"),
        (_doc(1), "Statement[0] must be an object, got number"),
        (_doc(_statement(), [_statement()]), "Statement[1] must be an object, got array"),
        (_doc(_statement(effect=None)), "Statement[0].Effect must be 'Allow' or 'Deny', got None"),
        (
            _doc(_statement(effect="allow")),
            "Statement[0].Effect must be 'Allow' or 'Deny', got 'allow'",
        ),
        (
            _doc(_statement(effect=["Allow"])),
            "Statement[0].Effect must be 'Allow' or 'Deny', got ['Allow']",
        ),
        (
            {"Statement": _statement(effect="Permit")},
            "Statement.Effect must be 'Allow' or 'Deny', got 'Permit'",
        ),
        (
            _doc(_statement(action=None)),
            "Statement[0] must have exactly one of Action or NotAction, has neither",
        ),
        (
            _doc(_statement(NotAction="s3:*")),
            "Statement[0] must have exactly one of Action or NotAction, has both",
        ),
        (
            _doc(_statement(resource=None)),
            "Statement[0] must have exactly one of Resource or NotResource, has neither",
        ),
        (
            _doc(_statement(NotResource=_OTHER)),
            "Statement[0] must have exactly one of Resource or NotResource, has both",
        ),
        (
            _doc(_statement(action=5)),
            "Statement[0].Action must be a string or a non-empty array of strings, got number",
        ),
        (
            _doc(_statement(action=[])),
            "Statement[0].Action must be a string or a non-empty array of strings, "
            "got an empty array",
        ),
        (
            _doc(_statement(action={"a": 1})),
            "Statement[0].Action must be a string or a non-empty array of strings, got object",
        ),
        (
            _doc(_statement(action=[INVOKE_ACTION, 3])),
            "Statement[0].Action must hold only strings, got number",
        ),
        (
            _doc(_statement(action="Invoke")),
            "Statement[0].Action: 'Invoke' is not service:action or *",
        ),
        (
            _doc(_statement(action=[INVOKE_ACTION, ""])),
            "Statement[0].Action: '' is not service:action or *",
        ),
        (
            _doc(_statement(action=None, NotAction="bad")),
            "Statement[0].NotAction: 'bad' is not service:action or *",
        ),
        (
            _doc(_statement(resource=None, NotResource=None)),
            "Statement[0].NotResource must be a string or a non-empty array of strings, got null",
        ),
        (
            _doc(_statement(resource=[_ARN, None])),
            "Statement[0].Resource must hold only strings, got null",
        ),
        (
            _doc(_statement(resource="a" * (MAX_RESOURCE_LENGTH + 1))),
            "Statement[0].Resource: a resource of 513 characters is longer than 512",
        ),
        (
            _doc(_statement(resource=None, NotResource=[_ARN, "b" * 600])),
            "Statement[0].NotResource: a resource of 600 characters is longer than 512",
        ),
        (
            _doc(_statement(Condition="aws:SecureTransport")),
            "Statement[0].Condition must be an object or an array of objects, got string",
        ),
        (
            _doc(_statement(Condition=[{"Bool": {}}, "x"])),
            "Statement[0].Condition must be an object or an array of objects, got array",
        ),
    ],
)
def test_malformed_documents(document, reason):
    with pytest.raises(PolicyError) as caught:
        compile_policy(document)
    assert caught.value.reason == reason
    assert str(caught.value) == f"invalid policy document: {reason}"
    with pytest.raises(PolicyError):
        evaluate_policy(document, _ARN)


def test_policy_error_is_an_authorization_error():
    assert issubclass(PolicyError, AuthorizationError)
    assert issubclass(AuthorizationError, GatewayError)


def test_a_resource_of_exactly_the_limit_is_accepted():
    resource = _ARN + "x" * (MAX_RESOURCE_LENGTH - len(_ARN))
    assert len(resource) == MAX_RESOURCE_LENGTH
    assert evaluate_policy(_doc(_statement(resource=resource)), resource) == "allow"


def test_patterns_are_compiled_once():
    first = compile_policy(_doc(_statement(resource=f"{_PREFIX}/*/$connect")))
    second = compile_policy(_doc(_statement(resource=f"{_PREFIX}/*/$connect")))
    assert first.statements[0].resources[0] is second.statements[0].resources[0]
    assert first.statements[0].actions[0] is second.statements[0].actions[0]
    assert first == second


def test_compiled_policy_is_a_frozen_value():
    policy = compile_policy(_doc(_statement()))
    assert isinstance(policy, Policy)
    with pytest.raises(AttributeError):
        policy.statements = ()  # type: ignore[misc]


# --- what powertools' WebSocket authorizer helper generates ----------------------------------


def _powertools_policy(build):
    response = APIGatewayAuthorizerResponseWebSocket.from_route_arn(_ARN, principal_id="user")
    build(response)
    return response.asdict()["policyDocument"]


@pytest.mark.parametrize(
    ("build", "outcome"),
    [
        (lambda r: r.allow_route("$connect"), "allow"),
        (lambda r: r.allow_route("/$connect"), "allow"),
        (lambda r: r.allow_route("$default"), "implicit_deny"),
        (lambda r: r.allow_all_routes(), "allow"),
        (lambda r: (r.allow_all_routes(), r.deny_route("$connect")), "deny"),
        (lambda r: (r.allow_route("$connect"), r.deny_all_routes()), "deny"),
        (lambda r: (r.allow_route("$connect"), r.deny_route("$default")), "allow"),
        # Conditional statements go in a statement of their own; unsupported, so never allow.
        (lambda r: r.allow_route("$connect", [{"StringEquals": {"aws:k": "v"}}]), "implicit_deny"),
    ],
)
def test_policies_powertools_builds(build, outcome):
    assert evaluate_policy(_powertools_policy(build), _ARN) == outcome


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (False, "boolean"),
        (0, "number"),
        (1.5, "number"),
        ("", "string"),
        ({}, "object"),
        ([], "array"),
        ((), "array"),
        ({1}, "set"),
        (b"x", "bytes"),
    ],
)
def test_json_type(value, name):
    assert json_type(value) == name
