"""A handler module that kills its process while being imported (a crash during init)."""

import os

os._exit(7)


def handler(event, context):
    return "unreachable"
