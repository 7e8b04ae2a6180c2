#!/usr/bin/env bash
# Cold verification through a real docker-registry on loopback, split into round trips, parsing and crypto, against
# the raw crypto floor (issue 8). Not part of the test run. Needs Debian's docker-registry (build/test.sh installs it).
# Usage: build/cold-verification.sh [verifications per scenario, default 300]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run -c Release --project build/cold-verification -- "$@"
