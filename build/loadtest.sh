#!/usr/bin/env bash
# Load test: publishes the webhook with a policy for freshly signed images in a real docker-registry, then drives
# it with wrk at 1, 8 and 64 connections (warm cache with digest references; no cache with tag references; the registry
# stopped, where every review must be denied) and prints reviews/s, latency percentiles (wrk's and the server's own),
# errors, admissions while the registry is down, peak and idle memory and start-up time. A second table puts the
# registry behind a fault-injecting proxy (build/loadtest/FaultInjectingProxy.cs) that delays every answer past the
# policies' 3 s webhookTimeoutSeconds or trickles it byte by byte, under failurePolicy Fail and Ignore, and adds the
# admitted/denied counts from /metrics and the registry requests the proxy saw per review. Not part of the tests.
# Usage: build/loadtest.sh [seconds per run, default 10] [--pinned] [--connections=1,2,4,8]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"; $sudo apt-get install -y -qq wrk >/dev/null; }
dotnet run -c Release --project build/loadtest -- "$@"
