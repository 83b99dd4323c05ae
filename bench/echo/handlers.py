"""The benchmark's functions: echoes that answer through the route response, and a $connect."""


async def echo(event, context):
    return {"statusCode": 200, "body": event["body"]}


def echo_sync(event, context):
    """The same echo as a plain Lambda handler (``def``), as most functions are written."""
    return {"statusCode": 200, "body": event["body"]}


def connect(event, context):
    """A ``$connect`` function that accepts every connection."""
    return {"statusCode": 200}
