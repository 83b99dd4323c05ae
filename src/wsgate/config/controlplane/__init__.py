"""The apigatewayv2 control plane, pure: resources, their operations, their translation."""
