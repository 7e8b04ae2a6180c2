#!/usr/bin/env bash
# Starts Debian's docker-registry on 127.0.0.1 at a free port, in the foreground, with storage in a
# temporary folder: a local registry to push test images to by hand (the tests start their own).
# Usage: build/registry.sh [port]
set -euo pipefail
port="${1:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat >"$dir/config.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
echo "registry on http://127.0.0.1:$port (push with: skopeo copy --dest-tls-verify=false ... docker://127.0.0.1:$port/<repo>:<tag>)"
exec docker-registry serve "$dir/config.yml"
