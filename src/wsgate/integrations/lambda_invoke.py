"""Functions run at a Lambda Invoke endpoint instead of a local runtime (``lambdaEndpoint``).

For runtimes this machine does not have (Java, .NET), ``sam local start-lambda``, a Lambda
emulator, or real AWS Lambda: each invocation is Lambda's ``Invoke`` (``RequestResponse``),
made by botocore's own ``lambda`` client, so it is SigV4-signed for ``lambda`` with the usual
credentials, as the AWS CLI would sign it. botocore is synchronous: calls run on up to
``concurrency`` threads, never on the event loop.

Failures are mapped as API Gateway maps them: a function error (``X-Amz-Function-Error``) is
the function's error document, as when a local function raises; an endpoint that cannot be
reached, a throttled call (429 ``TooManyRequestsException``) or any other error of the Lambda
service is an integration that could not be called (AWS answers ``Internal server error``).
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.session import Session

from wsgate.errors import (
    FunctionError,
    IntegrationBadResponse,
    IntegrationTimeout,
    IntegrationUnavailable,
)
from wsgate.integrations.base import IntegrationRequest, IntegrationResult, answered

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = ["LambdaInvokeRunner", "endpoint_region"]

# Lambda's synchronous response payload limit; a larger answer is refused as Lambda refuses it.
_MAX_PAYLOAD: Final = 6 * 1024 * 1024
# Beyond the function's own timeout, how long the HTTP read may wait for Lambda's answer.
_READ_MARGIN_SECONDS: Final = 5.0
_CONNECT_TIMEOUT_SECONDS: Final = 5.0
_AWS_ENDPOINT: Final = re.compile(r"https://lambda(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


def endpoint_region(endpoint: str, default: str) -> str:
    """The region an AWS Lambda endpoint names (``https://lambda.eu-west-1.amazonaws.com``);
    ``default`` for any other endpoint (a local emulator)."""
    match = _AWS_ENDPOINT.match(endpoint)
    return match.group(1) if match is not None else default


class LambdaInvokeRunner:
    """Invokes one function at its Lambda Invoke endpoint, behind the runners' interface.

    Args:
        name: the integration's name, used in errors.
        function_name: the function's name here; the one invoked is ``config.function_name``
            when set.
        config: the function's config, with ``lambda_endpoint`` set.
        region: the API's region, for endpoints that do not name one.
    """

    def __init__(
        self,
        name: str,
        function_name: str,
        config: FunctionConfig,
        *,
        region: str,
        account_id: str,
    ) -> None:
        del account_id  # the endpoint knows its own account
        assert config.lambda_endpoint is not None
        self.name = name
        self.endpoint = config.lambda_endpoint
        self.target = config.function_name or function_name
        self.region = endpoint_region(self.endpoint, region)
        self._config = config
        self._threads = ThreadPoolExecutor(
            max_workers=config.concurrency, thread_name_prefix=f"wsgate-invoke-{function_name}"
        )
        self._client: Any = None
        self._stopped = False

    async def start(self) -> None:
        """Make the botocore client (reading credentials and endpoint data takes a while)."""
        loop = asyncio.get_running_loop()
        self._client = await loop.run_in_executor(self._threads, self._make_client)

    def _make_client(self) -> Any:
        session = Session()
        # A local emulator needs some key to sign with: the function's own environment has
        # the gateway's local key when the usual chain finds nothing.
        credentials = session.get_credentials()
        environment = self._config.environment
        key: dict[str, Any] = {}
        if credentials is None and environment.get("AWS_ACCESS_KEY_ID"):
            key = {
                "aws_access_key_id": environment["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": environment.get("AWS_SECRET_ACCESS_KEY", ""),
                "aws_session_token": environment.get("AWS_SESSION_TOKEN") or None,
            }
        config = Config(
            retries={"total_max_attempts": 1},  # API Gateway does not retry; neither does this
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            read_timeout=self._config.timeout + _READ_MARGIN_SECONDS,
            max_pool_connections=self._config.concurrency,
        )
        return session.create_client(
            "lambda", region_name=self.region, endpoint_url=self.endpoint, config=config, **key
        )

    async def invoke(self, request: IntegrationRequest) -> IntegrationResult:
        """Invoke the function once and wait for its answer, within the integration timeout.

        Raises:
            FunctionError: the function failed (Lambda's error document).
            IntegrationTimeout: no answer within the integration timeout.
            IntegrationUnavailable: the endpoint cannot be reached, throttled the call, or
                refused it.
            IntegrationBadResponse: the answer is not JSON, or larger than Lambda allows.
        """
        if self._stopped or self._client is None:
            raise IntegrationUnavailable(self.name, "the function's Lambda client is stopped")
        payload = json.dumps(request.event, ensure_ascii=False).encode()
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._threads, self._call, payload)
        try:
            answer = await asyncio.wait_for(call, request.timeout_ms / 1000)
        except TimeoutError as error:
            message = f"no answer from {self.endpoint} within {request.timeout_ms} ms"
            raise IntegrationTimeout(self.name, message) from error
        return self._result(answer)

    def _call(self, payload: bytes) -> tuple[str | None, bytes]:
        """One synchronous Invoke, on a thread: the function error header and the payload."""
        try:
            reply = self._client.invoke(
                FunctionName=self.target, InvocationType="RequestResponse", Payload=payload
            )
            body = reply["Payload"].read(_MAX_PAYLOAD + 1)
        except ReadTimeoutError as error:
            raise IntegrationTimeout(self.name, f"{self.endpoint} did not answer") from error
        except (EndpointConnectionError, ConnectionClosedError) as error:
            raise IntegrationUnavailable(self.name, f"cannot reach {self.endpoint}") from error
        except NoCredentialsError as error:
            raise IntegrationUnavailable(
                self.name, "no AWS credentials to sign the Invoke call with"
            ) from error
        except ClientError as error:
            raise IntegrationUnavailable(self.name, _service_error(error)) from error
        except BotoCoreError as error:
            raise IntegrationUnavailable(self.name, f"{self.endpoint}: {error}") from error
        return reply.get("FunctionError"), body

    def _result(self, answer: tuple[str | None, bytes]) -> IntegrationResult:
        function_error, body = answer
        if len(body) > _MAX_PAYLOAD:
            message = f"the function's answer is larger than {_MAX_PAYLOAD} bytes"
            raise IntegrationBadResponse(self.name, message)
        try:
            payload = json.loads(body) if body.strip() else None
        except ValueError as error:
            if function_error is not None:
                text = body.decode(errors="replace")
                raise FunctionError(self.name, function_error, text) from error
            raise IntegrationBadResponse(self.name, f"the answer is not JSON: {error}") from error
        if function_error is not None:
            raise _function_error(self.name, function_error, payload)
        return answered(payload)

    def reload(self) -> None:
        """Nothing to reload: the code runs at the endpoint."""

    async def stop(self) -> None:
        """Refuse new calls; calls in flight end with their own timeouts."""
        self._stopped = True
        self._threads.shutdown(wait=False, cancel_futures=True)


def _function_error(name: str, kind: str, payload: Any) -> FunctionError:
    """Lambda's error document (``errorType``, ``errorMessage``, ``stackTrace``) as an error."""
    if not isinstance(payload, dict):
        return FunctionError(name, kind, json.dumps(payload))
    stack = payload.get("stackTrace")
    lines = [str(line) for line in stack] if isinstance(stack, list) else []
    return FunctionError(
        name,
        str(payload.get("errorType") or kind),
        str(payload.get("errorMessage", "")),
        lines,
    )


def _service_error(error: ClientError) -> str:
    """What Lambda's service said: ``429 TooManyRequestsException: Rate Exceeded.``"""
    details = error.response.get("Error", {})
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    code = details.get("Code", "error")
    message = details.get("Message", "")
    throttled = " (throttled)" if code == "TooManyRequestsException" else ""
    return f"Lambda answered {status} {code}{throttled}: {message}".replace("  ", " ")
