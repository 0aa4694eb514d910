#!/usr/bin/env bash
# Installs what msgq's build and tests need on a fresh Debian 12 machine. Idempotent.
set -euo pipefail
need=()
command -v unshare >/dev/null || need+=(util-linux)
command -v cc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "ensure-deps: need root to install: ${need[*]}" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "ensure-deps: cargo (rustup) is required" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy >/dev/null 2>&1 || true
