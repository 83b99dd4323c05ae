"""SAM, CloudFormation and CDK templates as API configs (see docs/templates.md)."""
