"""Where an AWS service integration sends its request, and the headers its kind adds.

API Gateway turns ``arn:aws:apigateway:{region}:{service}:action/{Action}`` into a request to
the service's endpoint: a query service (SQS, SNS) gets ``?Action={Action}&Version={apiVersion}``
and the body the request template renders; a JSON service (DynamoDB, Kinesis) gets a POST to
``/`` with ``X-Amz-Target: {targetPrefix}.{Action}`` and its JSON content type, so the template
renders only the action's input. ``path/{path}`` is sent to that path as it is (SQS's
``path/{account}/{queue}``, S3's ``path/{bucket}/{key}``): the template renders everything.
The request template, parameters and signature are applied by the integration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

__all__ = ["ActionStyle", "ServiceFacts", "ServiceUri", "service_headers", "service_url"]

# How an action goes out: "query" services take ?Action={Action}&Version={apiVersion};
# "json" ones a POST to / with X-Amz-Target: {targetPrefix}.{Action}; "rest" ones have no
# actions, only paths.
ActionStyle = Literal["query", "json", "rest"]

# Left as written in a path: separators, {placeholders} that mapped path parameters fill, and
# what RFC 3986 allows in a segment.
_PATH_SAFE = "/{}%:@!$&'()*+,;=~"


@dataclass(frozen=True, slots=True)
class ServiceUri:
    """An AWS service action or path that an ``AWS`` integration calls.

    Attributes:
        region: the region in the ARN.
        service: the service as API Gateway's ARNs name it (its endpoint prefix: ``sqs``,
            ``states``, ``email``).
        form: ``action`` (``action/{Action}``) or ``path`` (``path/{path}``).
        target: the action's name, or the path after ``path/``.
        parameters: the action's own parameters (``action/{Action}&{name}={value}...``).
    """

    region: str
    service: str
    form: Literal["action", "path"]
    target: str
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    """What a service's model and configuration say, as far as the request needs it.

    Attributes:
        endpoint_url: where its requests go (``https://sqs.us-east-1.amazonaws.com``, or the
            endpoint configured for it).
        style: how an action goes out (:data:`ActionStyle`).
        api_version: the API version a query action names (``2012-11-05``).
        target_prefix: a JSON service's ``X-Amz-Target`` prefix (``DynamoDB_20120810``).
        json_version: a JSON service's content type version (``1.0``: x-amz-json-1.0).
    """

    endpoint_url: str
    style: ActionStyle
    api_version: str
    target_prefix: str = ""
    json_version: str = "1.0"


def service_url(target: ServiceUri, facts: ServiceFacts) -> str:
    """The URL a service integration's request goes to, before mapped query parameters."""
    base = facts.endpoint_url.rstrip("/")
    if target.form == "path":
        return f"{base}/{quote(target.target, safe=_PATH_SAFE)}"
    query = list(target.parameters)
    if facts.style == "query":
        names = {name for name, _ in query}
        version = [] if "Version" in names else [("Version", facts.api_version)]
        query = [("Action", target.target), *version, *query]
    if not query:
        return f"{base}/"
    return f"{base}/?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)


def service_headers(target: ServiceUri, facts: ServiceFacts) -> tuple[tuple[str, str], ...]:
    """The headers API Gateway adds for an action of a JSON service; none otherwise."""
    if target.form != "action" or facts.style != "json":
        return ()
    return (
        ("X-Amz-Target", f"{facts.target_prefix}.{target.target}"),
        ("Content-Type", f"application/x-amz-json-{facts.json_version}"),
    )
