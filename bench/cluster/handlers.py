"""The functions of bench/cluster/wsgate.yaml (in-process, async)."""


async def connect(event, context):
    return {"statusCode": 200, "groups": ["bench"]}


async def whoami(event, context):
    return {"statusCode": 200, "body": event["requestContext"]["connectionId"]}
