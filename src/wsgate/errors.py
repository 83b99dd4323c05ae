"""The whole wsgate exception tree.

::

    GatewayError
    ├── ConfigError                      config file at fault; carries the path inside it
    ├── RoutingError                     a selection expression that cannot be compiled
    ├── TemplateError                    a template that cannot be parsed or rendered
    ├── IntegrationError                 calling an integration failed
    │   ├── IntegrationTimeout           (also TimeoutError) no answer within timeoutInMillis
    │   ├── IntegrationUnavailable       the target could not be reached or its worker died
    │   ├── IntegrationBadResponse       the target answered with something unusable
    │   ├── UnsupportedContent           no request template takes the message (AWS's 415)
    │   └── FunctionError                a local function raised; carries Lambda's error shape
    ├── RegistryError                    the connection registry failed
    │   ├── ConnectionNotFound           (also LookupError) no such live connection
    │   ├── RegistryUnavailable          the registry backend cannot be reached
    │   ├── DefinitionConflict           another node changed a control plane API meanwhile
    │   └── NodeUnreachable              (also TimeoutError) another node did not answer in time
    ├── ManagementError                  a bad @connections request (status + AWS error type)
    ├── ControlPlaneError                a refused apigatewayv2 call (status + AWS error type)
    ├── AuthorizationError               a Lambda authorizer's answer cannot be used (500)
    │   ├── PolicyError                  its IAM policy document is malformed
    │   └── AuthorizerResultError        the rest of its result is (principalId, context, size)
    ├── AuthenticationError              the caller could not be authenticated
    │   └── SignatureError               SigV4 missing or wrong (status + AWS error type)
    └── TlsError                         a certificate or key file is missing or unusable

Adapters translate third-party errors into the most specific class here and chain the cause.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "AuthorizerResultError",
    "ConfigError",
    "ConfigIssue",
    "ConnectionNotFound",
    "ControlPlaneError",
    "DefinitionConflict",
    "FunctionError",
    "GatewayError",
    "IntegrationBadResponse",
    "IntegrationError",
    "IntegrationTimeout",
    "IntegrationUnavailable",
    "ManagementError",
    "NodeUnreachable",
    "PolicyError",
    "RegistryError",
    "RegistryUnavailable",
    "RoutingError",
    "SignatureError",
    "TemplateError",
    "TlsError",
    "UnsupportedContent",
]

from dataclasses import dataclass


class GatewayError(Exception):
    """Base class of every error wsgate raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file: where it is and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(GatewayError):
    """The config file is invalid; ``issues`` lists every problem with its place."""

    def __init__(self, issues: list[ConfigIssue], source: str = "") -> None:
        self.issues = issues
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        count = len(self.issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        return f"{head}{count} error{'s' if count != 1 else ''} in config\n{lines}"


class RoutingError(GatewayError):
    """A selection expression cannot be compiled."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"invalid selection expression {self.expression!r}: {self.reason}"


class TemplateError(GatewayError):
    """A mapping template cannot be parsed or rendered."""


class IntegrationError(GatewayError):
    """Calling an integration failed."""

    def __init__(self, integration: str, reason: str) -> None:
        self.integration = integration
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"integration {self.integration!r}: {self.reason}"


class IntegrationTimeout(IntegrationError, TimeoutError):
    """The integration did not answer within its timeout."""


class IntegrationUnavailable(IntegrationError):
    """The integration's target could not be reached, or its worker died."""


class IntegrationBadResponse(IntegrationError):
    """The integration answered with something the gateway cannot use."""

    def __init__(self, integration: str, reason: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(integration, reason)


class UnsupportedContent(IntegrationError):
    """No request template takes the message and ``passthroughBehavior`` forbids passing it.

    The integration is never called; the client gets AWS's 415 ``Unsupported Media Type``.
    """


class FunctionError(IntegrationError):
    """A local function raised (or timed out inside Lambda's own limit).

    ``error_type`` and ``error_message`` follow Lambda's error payload
    (``errorType``, ``errorMessage``); ``stack`` is the formatted traceback.
    """

    def __init__(
        self, integration: str, error_type: str, error_message: str, stack: list[str] | None = None
    ) -> None:
        self.error_type = error_type
        self.error_message = error_message
        self.stack = stack or []
        super().__init__(integration, f"{error_type}: {error_message}")


class RegistryError(GatewayError):
    """The connection registry failed."""


class ConnectionNotFound(RegistryError, LookupError):
    """No live connection has this id."""

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"no live connection {self.connection_id!r}"


class RegistryUnavailable(RegistryError):
    """The registry backend cannot be reached."""


class DefinitionConflict(RegistryError):
    """Another node changed a control plane definition since this one read it."""

    def __init__(self, api_id: str) -> None:
        self.api_id = api_id
        super().__init__(f"API {api_id} was changed by another node meanwhile")


class NodeUnreachable(RegistryError, TimeoutError):
    """Another node did not answer a request in time (it may be dead or partitioned)."""

    def __init__(self, node_id: str, timeout: float) -> None:
        self.node_id = node_id
        self.timeout = timeout
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"node {self.node_id!r} did not answer within {self.timeout:g} s"


class ManagementError(GatewayError):
    """A management API request is refused; ``error_type`` is AWS's error shape name."""

    def __init__(self, status: int, error_type: str, message: str | None = None) -> None:
        self.status = status
        self.error_type = error_type
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.status} {self.error_type}" + (f": {self.message}" if self.message else "")


class ControlPlaneError(GatewayError):
    """An apigatewayv2 control plane call is refused, as AWS refuses it.

    ``error_type`` is AWS's error shape (``BadRequestException`` 400, ``NotFoundException``
    404, ``ConflictException`` 409); ``message`` goes to the caller.
    """

    def __init__(self, status: int, error_type: str, message: str) -> None:
        self.status = status
        self.error_type = error_type
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.status} {self.error_type}: {self.message}"


class AuthorizationError(GatewayError):
    """A Lambda authorizer answered with something the gateway cannot use.

    ``reason`` says what is wrong; it goes into logs and traces, never to the client, who gets
    the 500 that AWS answers for an invalid authorizer output (§6.3 of the AWS reference).
    """

    _what = "unusable authorizer answer"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self._what}: {self.reason}"


class PolicyError(AuthorizationError):
    """The authorizer's IAM policy document is malformed."""

    _what = "invalid policy document"


class AuthorizerResultError(AuthorizationError):
    """The authorizer's result is malformed: not an object, no principalId, bad context, too big."""

    _what = "invalid authorizer result"


class AuthenticationError(GatewayError):
    """The caller could not be authenticated (IAM-authorized ``$connect`` or ``@connections``)."""


class SignatureError(AuthenticationError):
    """A request's SigV4 signature is missing, malformed or wrong.

    ``status``, ``error_type`` and ``message`` are what AWS answers: the ``x-amzn-ErrorType``
    header and the ``{"message": ...}`` body, so boto3 raises the same error code as against AWS.
    """

    def __init__(self, error_type: str, message: str, status: int = 403) -> None:
        self.status = status
        self.error_type = error_type
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.status} {self.error_type}: {self.message}"


class TlsError(GatewayError):
    """A certificate or key file is missing, unreadable, malformed or does not fit its pair."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
