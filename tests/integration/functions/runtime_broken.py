"""A handler module whose import fails (Lambda: Runtime.ImportModuleError)."""

import wsgate_no_such_module  # type: ignore[import-not-found]  # noqa: F401


def handler(event, context):
    return "unreachable"
