#!/usr/bin/env bash
# Regenerates cdk.out/ from app.js: installs the pinned aws-cdk-lib and constructs from npm into a
# temporary folder (never into this one) and runs the app, whose app.synth() writes the cloud
# assembly. No CDK CLI is needed. Run from anywhere; needs node and npm.
set -euo pipefail

AWS_CDK_LIB_VERSION=2.170.0
CONSTRUCTS_VERSION=10.4.2

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

npm install --prefix "$work" --no-audit --no-fund --silent \
  "aws-cdk-lib@$AWS_CDK_LIB_VERSION" "constructs@$CONSTRUCTS_VERSION" >/dev/null
rm -rf "$here/cdk.out"
NODE_PATH="$work/node_modules" CDK_OUTDIR="$here/cdk.out" node "$here/app.js"
# The assembly's manifest and tree are for the CDK CLI; the template and its assets are kept.
rm -f "$here/cdk.out/manifest.json" "$here/cdk.out/tree.json" "$here/cdk.out/cdk.out" \
  "$here/cdk.out/"*.assets.json
echo "synthesized: $(cd "$here" && ls cdk.out)"
