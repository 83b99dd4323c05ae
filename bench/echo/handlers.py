"""The benchmark's echo function: the body comes back through the route response."""


async def echo(event, context):
    return {"statusCode": 200, "body": event["body"]}
