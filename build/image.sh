#!/usr/bin/env bash
# Builds the webhook's container image without docker: an OCI image layout (and the same as an
# oci-archive tar) whose single layer holds the NativeAOT binary, the shared libraries it loads (found
# with ldd, plus the ones .NET dlopens), CA certificates, /etc/passwd and /etc/group with a non-root
# user, and /tmp. Nothing else: no shell, no package manager.
#
# Usage: build/image.sh [options]
#   --binary PATH      use this published policy-compiler binary instead of publishing host/
#                      (its appsettings.json is taken from beside it, else from host/)
#   --policies DIR     publish with -p:PolicyDirectory=DIR (ignored with --binary)
#   --output DIR       where to write layout/ and policy-compiler.oci.tar (default: artifacts/image)
#   --tag TAG          the tag in index.json (default: latest)
#   --push REF         then skopeo copy the image to docker://REF (e.g. 127.0.0.1:5000/policy-compiler:v1);
#                      TLS verification is off only for loopback registries, or with --insecure
#   --insecure         push over plain HTTP / without TLS verification to any registry
#
# Reproducible: with the same binary, commit (the config names it) and SOURCE_DATE_EPOCH (default: the
# commit time of HEAD, else 0) the layer, config and manifest digests are the same on every run.
# Needs: bash, coreutils, GNU tar, gzip, ldd, ldconfig (and dotnet to publish, skopeo to push).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
binary=""
policies=""
output="$repo/artifacts/image"
tag="latest"
push=""
insecure=0

die() { echo "image.sh: $*" >&2; exit 1; }

while (($# > 0)); do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --policies) policies="${2:?--policies needs a folder}"; shift 2 ;;
    --output) output="${2:?--output needs a folder}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --push) push="${2:?--push needs an image reference}"; shift 2 ;;
    --insecure) insecure=1; shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# The tag goes into JSON written by printf below, so it must be a plain OCI tag (no quoting needed).
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$ ]] || die "'$tag' is not a valid tag"

case "$(uname -m)" in
  x86_64) arch=amd64 rid=linux-x64 ;;
  aarch64) arch=arm64 rid=linux-arm64 ;;
  *) die "unsupported machine $(uname -m)" ;;
esac

# ---------------------------------------------------------------------------------------------- binary
work="$(mktemp -d "${TMPDIR:-/tmp}/policy-compiler-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [[ -z "$binary" ]]; then
  echo "Publishing host/ (Release, $rid, NativeAOT)…"
  args=(publish "$repo/host/PolicyCompiler.Host.csproj" -c Release -r "$rid" -o "$work/publish" -nologo)
  # PublishAot comes from the host project; bin/obj of the image build go to the temp folder so that it
  # does not rewrite the restore state of builds in the work tree.
  args+=(--artifacts-path "$work/artifacts")
  [[ -n "$policies" ]] && args+=("-p:PolicyDirectory=$(cd "$policies" && pwd)/")
  dotnet "${args[@]}" >&2
  binary="$work/publish/policy-compiler"
fi

[[ -f "$binary" ]] || die "$binary does not exist"
[[ "$(head -c 4 "$binary" | od -An -c | tr -d ' ')" == '177ELF' ]] || die "$binary is not an ELF executable"
[[ -e "$(dirname "$binary")/policy-compiler.dll" ]] && die "$binary is framework-dependent; the image needs the NativeAOT publish"
settings="$(dirname "$binary")/appsettings.json"
[[ -f "$settings" ]] || settings="$repo/host/appsettings.json"

# ---------------------------------------------------------------------------------------------- rootfs
rootfs="$work/rootfs"
mkdir -p "$rootfs"

# Copies a file from this machine to the same path in the image, following symlinks: the image holds the
# soname paths the loader asks for as regular files, so no symlink in the image can point outside it.
copy_in() {
  local source="$1" target="$rootfs$1"
  [[ -e "$target" ]] && return 0
  mkdir -p "$(dirname "$target")"
  cp -L "$source" "$target"
  chmod 0755 "$target"
}

# The libraries a binary links, as ldd resolves them on this machine (which must be the one the binary was
# built for: the image's libc is this machine's libc).
libraries_of() {
  local file="$1" out
  out="$(ldd "$file" 2>&1)" || die "ldd $file failed: $out"
  if grep -q 'not found' <<<"$out"; then
    die "ldd $file: $(grep 'not found' <<<"$out")"
  fi
  # "name => /path (addr)" or "/path/ld-linux… (addr)"; linux-vdso has no file.
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
}

# A library .NET opens with dlopen by soname, located as the loader would find it (ld.so.cache).
library_path() {
  local soname="$1" path
  path="$(ldconfig -p | awk -v so="$soname" '$1 == so && /x86-64|AArch64/ { print $NF; exit }')"
  [[ -n "$path" ]] || die "$soname is not installed (Debian: $2)"
  echo "$path"
}

# The binary and its appsettings.json get a folder of their own, which is also the working directory: ASP.NET
# Core takes the working directory as content root and watches it recursively for appsettings changes. With "/"
# as content root that walk covered all of /proc and /sys at start (7,000+ inotify watches, ~1.5 s).
install -D -m 0755 "$binary" "$rootfs/app/policy-compiler"
install -m 0644 "$settings" "$rootfs/app/appsettings.json"

# Command substitutions (not process substitutions) so that a failing ldd stops the script under set -e.
libraries="$(libraries_of "$binary")"

# System.Security.Cryptography.Native is linked into the NativeAOT binary, but it dlopens OpenSSL at run time
# (TLS for the webhook's own endpoint and for registries, every signature check): ldd cannot see these.
libssl="$(library_path libssl.so.3 libssl3)"
libcrypto="$(library_path libcrypto.so.3 libssl3)"
dlopened=("$libssl" "$libcrypto")

# Globalization: without InvariantGlobalization the runtime dlopens ICU and fails at start when it is missing.
if ! grep -q '<InvariantGlobalization>true</InvariantGlobalization>' "$repo/host/PolicyCompiler.Host.csproj"; then
  for so in $(ldconfig -p | awk '$1 ~ /^libicu(uc|i18n)\.so\.[0-9]+$/ { print $1 }' | sort -u); do
    icu="$(library_path "$so" libicu72)"
    dlopened+=("$icu")
  done
fi

for lib in "${dlopened[@]}"; do
  deps="$(libraries_of "$lib")"
  libraries+=$'\n'"$lib"$'\n'"$deps"
done

libraries="$(LC_ALL=C sort -u <<<"$libraries" | sed '/^$/d')"
while IFS= read -r lib; do
  copy_in "$lib"
done <<<"$libraries"

# The loader itself must also sit at the path written into the binary (PT_INTERP), which ldd printed above.
# OpenSSL's compiled-in OPENSSLDIR (Debian: /usr/lib/ssl) names cert.pem and certs/ as the default trust store,
# which .NET reads for registry TLS; point both at the CA bundle as Debian does.
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -s "$ca_bundle" ]] || die "$ca_bundle is missing (Debian: ca-certificates)"
install -D -m 0644 "$ca_bundle" "$rootfs$ca_bundle"
openssl_dir="$(openssl version -d 2>/dev/null | sed -n 's/^OPENSSLDIR: "\(.*\)"$/\1/p')"
openssl_dir="${openssl_dir:-/usr/lib/ssl}"
mkdir -p "$rootfs$openssl_dir"
ln -s "$ca_bundle" "$rootfs$openssl_dir/cert.pem"
ln -s /etc/ssl/certs "$rootfs$openssl_dir/certs"

# The non-root user the image runs as (uid/gid 65532, as distroless' "nonroot"); root exists so that tools
# reading /etc/passwd see a complete file.
mkdir -p "$rootfs/etc" "$rootfs/home/nonroot" "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/home/nonroot"
# An empty /proc to mount over: the runtime reads /proc/self (cgroup limits, its own path) when it is there.
mkdir -p "$rootfs/proc"
find "$rootfs" -type d ! -path "$rootfs/tmp" ! -path "$rootfs/home/nonroot" -exec chmod 0755 {} +

# ----------------------------------------------------------------------------------------------- layer
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}"
[[ "$epoch" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH '$epoch' is not a number of seconds"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

# Reproducible tar: names sorted, one mtime, numeric owners, no atime/ctime or user names in pax headers.
tar_flags=(--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
  --mtime="@$epoch" --numeric-owner --sort=name)
# Everything belongs to root except the user's home, appended afterwards with its own owner (tar cannot map
# owners per file without chown, which would need root).
(cd "$rootfs" && find . -mindepth 1 ! -path ./home/nonroot ! -path './home/nonroot/*' -printf '%P\n' | LC_ALL=C sort) >"$work/files"
tar -C "$rootfs" "${tar_flags[@]}" --owner=0 --group=0 --no-recursion -cf "$work/layer.tar" -T "$work/files"
tar -C "$rootfs" "${tar_flags[@]}" --owner=65532 --group=65532 --no-recursion -rf "$work/layer.tar" home/nonroot
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

layout="$output/layout"
rm -rf "$layout"
mkdir -p "$layout/blobs/sha256"

# Stores a file as a blob and sets $digest and $size.
put_blob() {
  digest="sha256:$(sha "$1")"
  size="$(size "$1")"
  cp "$1" "$layout/blobs/sha256/${digest#sha256:}"
}

diff_id="sha256:$(sha "$work/layer.tar")"
put_blob "$work/layer.tar.gz"
layer_digest="$digest" layer_size="$size"

revision="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
# The JSON is written with printf: every value in it is a digest, a number, a validated tag or a constant.
# HOME is the user's home for anything that looks there; the manifests mount nothing else writable.
printf '%s' "{\"created\":\"$created\",\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":{\"User\":\"65532:65532\",\"ExposedPorts\":{\"9443/tcp\":{}},\"Env\":[\"HOME=/home/nonroot\"],\"Entrypoint\":[\"/app/policy-compiler\"],\"WorkingDir\":\"/app\",\"Labels\":{\"org.opencontainers.image.revision\":\"$revision\",\"org.opencontainers.image.title\":\"policy-compiler\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"$diff_id\"]},\"history\":[{\"created\":\"$created\",\"created_by\":\"build/image.sh\"}]}" >"$work/config.json"
put_blob "$work/config.json"
config_digest="$digest" config_size="$size"

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$config_digest\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$layer_digest\",\"size\":$layer_size}],\"annotations\":{\"org.opencontainers.image.created\":\"$created\",\"org.opencontainers.image.revision\":\"$revision\"}}" >"$work/manifest.json"
put_blob "$work/manifest.json"
manifest_digest="$digest" manifest_size="$size"

printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$manifest_digest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$tag\"}}]}" >"$layout/index.json"

archive="$output/policy-compiler.oci.tar"
tar -C "$layout" "${tar_flags[@]}" --owner=0 --group=0 -cf "$archive" oci-layout index.json blobs

binary_size="$(size "$binary")"
layer_tar_size="$(size "$work/layer.tar")"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
cat <<EOF
image:        $layout (tag $tag), archive $archive
manifest:     $manifest_digest
binary:       $binary_size bytes ($(mib "$binary_size"))
layer:        $layer_size bytes compressed ($(mib "$layer_size")), $layer_tar_size bytes uncompressed ($(mib "$layer_tar_size"))
image total:  $((layer_size + config_size + manifest_size)) bytes compressed (layer + config + manifest)
files:        $(wc -l <"$work/files") entries + home/nonroot; libraries: $(tr '\n' ' ' <<<"$libraries")
EOF

# -------------------------------------------------------------------------------------------------- push
if [[ -n "$push" ]]; then
  registry="${push%%/*}"
  tls=()
  if ((insecure)) || [[ "$registry" =~ ^(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?$ ]]; then
    tls=(--dest-tls-verify=false)
  fi
  "${SKOPEO:-skopeo}" copy --quiet "${tls[@]}" "oci:$layout:$tag" "docker://$push"
  echo "pushed:       docker://$push"
fi
