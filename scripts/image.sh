#!/usr/bin/env bash
# Builds the etl container image from the Containerfile: a runtime root assembled from this
# machine's files (Debian's): the etl binary, the C libraries `ldd` says it links (glibc, libgcc_s),
# the CA certificates of the `ca-certificates` package, /etc/passwd with the user `etl` (65532), and
# an empty /tmp; no base image is pulled, so no registry is needed.
#
#   bash scripts/image.sh [TAG]                 # TAG: etl:<Cargo.toml's version>
#   ETL_BINARY=target/debug/etl bash scripts/image.sh etl:dev   # a binary already built
#
# Without ETL_BINARY it builds an optimised binary first (cargo build --release --locked, about 12
# minutes cold on 2 cores). The image is built with buildah (where overlay storage is not available,
# as in containers: STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot), else podman, else docker.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=${1:-etl:$version}
binary=${ETL_BINARY:-}
if [ -z "$binary" ]; then
  cargo build --release --locked >&2
  binary=target/release/etl
fi
[ -x "$binary" ] || { echo "error: $binary is not an executable (set ETL_BINARY or build it)" >&2; exit 2; }
certs=/etc/ssl/certs/ca-certificates.crt
[ -f "$certs" ] || { echo "error: $certs is missing: install Debian's ca-certificates package" >&2; exit 2; }

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
root=$context/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$context/work"
chmod 1777 "$root/tmp"
cp "$binary" "$root/usr/local/bin/etl"
# Debug info is for profiling on a workstation, not for a container.
strip --strip-debug "$root/usr/local/bin/etl" 2>/dev/null || true
# The shared libraries and the dynamic loader, at the paths the binary asks for them (none for a
# static binary, whose ldd says "not a dynamic executable" and fails).
{ ldd "$binary" || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
  while read -r lib; do
    cp --parents -L "$lib" "$root"
  done
cp "$certs" "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\netl:x:65532:65532:etl:/work:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\netl:x:65532:\n' >"$root/etc/group"
cp Containerfile "$context/"

if command -v buildah >/dev/null; then
  buildah bud --layers=false --build-arg "VERSION=$version" -f "$context/Containerfile" -t "$tag" "$context" >&2
elif command -v podman >/dev/null; then
  podman build --build-arg "VERSION=$version" -f "$context/Containerfile" -t "$tag" "$context" >&2
elif command -v docker >/dev/null; then
  docker build --build-arg "VERSION=$version" -f "$context/Containerfile" -t "$tag" "$context" >&2
else
  echo "error: no buildah, podman or docker: install one (Debian: apt-get install buildah)" >&2
  exit 2
fi
echo "$tag"
