#!/usr/bin/env bash
# Installs a released Fixwright binary after checking it against the
# release's SHA256SUMS. Inputs (environment):
#   FIXWRIGHT_VERSION        the release, e.g. 0.1.0 (required)
#   FIXWRIGHT_DOWNLOAD_BASE  where releases live (default: GitHub releases)
#   FIXWRIGHT_TARGET         the target triple (default: from RUNNER_ARCH / uname -m)
#   FIXWRIGHT_INSTALL_DIR    where the binary goes (default: $RUNNER_TEMP/fixwright-bin)
set -euo pipefail

version=${FIXWRIGHT_VERSION:?set fixwright-version to a released version}
base=${FIXWRIGHT_DOWNLOAD_BASE:-https://github.com/fixwright/fixwright/releases/download}
if [ -z "${FIXWRIGHT_TARGET:-}" ]; then
  arch=${RUNNER_ARCH:-$(uname -m)}
  case "$arch" in
    X64 | x86_64 | amd64) FIXWRIGHT_TARGET=x86_64-unknown-linux-gnu ;;
    ARM64 | aarch64 | arm64) FIXWRIGHT_TARGET=aarch64-unknown-linux-gnu ;;
    *) echo "fixwright: no release for architecture $arch" >&2; exit 1 ;;
  esac
fi
dest=${FIXWRIGHT_INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/fixwright-bin}
asset="fixwright-${version}-${FIXWRIGHT_TARGET}.tar.gz"
url="${base}/v${version}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/$asset" "$url/$asset"
curl -fsSL --retry 3 -o "$work/SHA256SUMS" "$url/SHA256SUMS"

expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$work/SHA256SUMS")
if [ -z "$expected" ]; then
  echo "fixwright: $asset is not listed in SHA256SUMS of v$version" >&2
  exit 1
fi
actual=$(sha256sum "$work/$asset" | cut -d' ' -f1)
if [ "$expected" != "$actual" ]; then
  echo "fixwright: checksum mismatch for $asset: expected $expected, got $actual" >&2
  exit 1
fi

mkdir -p "$dest"
tar -xzf "$work/$asset" -C "$dest" fixwright
chmod +x "$dest/fixwright"
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$dest" >> "$GITHUB_PATH"
fi
echo "fixwright $version installed to $dest"
