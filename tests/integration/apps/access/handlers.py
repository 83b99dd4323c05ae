"""An authorizer and handlers for the access tests; each records the event it got to EVENTS_FILE."""

import json
import os


def _record(event):
    with open(os.environ["EVENTS_FILE"], "a", encoding="utf-8") as file:
        file.write(json.dumps(event) + "\n")


def _policy(effect, resource):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


def authorize(event, context):
    """Tokens say what to do: allow-<user>, deny-<user>, unauthorized, boom, nonsense, key-<k>."""
    _record(event)
    token = event["queryStringParameters"].get("token") or event["headers"].get("Auth", "")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "boom":
        raise ValueError("the authorizer broke")
    if token == "nonsense":
        return {"policyDocument": _policy("Allow", "*")}  # no principalId
    verb, _, user = token.partition("-")
    # Wildcards as users write them: any stage and route of this API.
    arn = event["methodArn"].rsplit("/", 2)[0] + "/*/*"
    result = {
        "principalId": user,
        "policyDocument": _policy("Allow" if verb in ("allow", "key") else "Deny", arn),
        "context": {"tenant": "acme", "level": 3, "admin": False},
    }
    if verb == "key":
        result["usageIdentifierKey"] = user
    return result


def record(event, context):
    _record(event)
    return {"statusCode": 200}


def echo(event, context):
    _record(event)
    return {"statusCode": 200, "body": event.get("body") or ""}


def callback(event, context):
    """Post back to the caller the way AWS handlers do: boto3 at https://{domainName}/{stage}."""
    import boto3

    request = event["requestContext"]
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://{request['domainName']}/{request['stage']}",
    )
    client.post_to_connection(ConnectionId=request["connectionId"], Data=b"called back")
    return {"statusCode": 200}
