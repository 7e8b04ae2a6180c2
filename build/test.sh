#!/usr/bin/env bash
# Runs the whole test suite. Installs, when missing, what the end-to-end tests drive as real processes:
# Debian's docker-registry (the OCI registry), skopeo (pushes images), and the NativeAOT toolchain
# (a C compiler and zlib headers) used when the tests publish the webhook.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
{ command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; } || missing+=(clang)
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
# build/image.sh copies the system CA bundle into the image (ContainerImageTests build one).
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
# ManifestTests validate the printed manifests with build/manifest-validation (node, packages from npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]} > 0)); then
  echo "Installing test prerequisites: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d build/manifest-validation/node_modules ]; then
  echo "Installing the manifest validator's packages (npm ci in build/manifest-validation)"
  npm ci --prefix build/manifest-validation --no-audit --no-fund >/dev/null
fi

dotnet test PolicyCompiler.sln -c Release "$@"

# A short coverage-guided fuzz run of every target (issue 9; 15 s each, about 2.5 min with the instrumenting build).
# It fails on a crash and on a hang that a 10 s replay confirms, never on a slow machine alone; the corpus replay in
# tests/PolicyCompiler.Fuzz has already run in dotnet test above. POLICYCOMPILER_FUZZ_SECONDS=0 skips it.
fuzz_seconds=${POLICYCOMPILER_FUZZ_SECONDS:-15}
if [ "$fuzz_seconds" -gt 0 ]; then
  ./build/fuzz.sh "$fuzz_seconds"
fi
