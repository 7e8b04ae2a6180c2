#!/usr/bin/env bash
# Regenerates the expectations of GoYamlTests from the real gopkg.in/yaml.v2 2.4.0 (the version Kyverno builds with):
# reads cases.json (name + input), writes tests/PolicyCompiler.Runtime.Tests/Admission/TestData/goyaml-v2-cases.json.
# Needs: apt-get install golang-go golang-gopkg-yaml.v2-dev (GOPATH mode, no module download).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../tests/PolicyCompiler.Runtime.Tests/Admission/TestData/goyaml-v2-cases.json"
mkdir -p "$(dirname "$out")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/oracle"
cp "$here/main.go" "$work/src/oracle/"
GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOCACHE="$work/cache" go build -o "$work/oracle" oracle
"$work/oracle" < "$here/cases.json" > "$out"
echo "wrote $out"
