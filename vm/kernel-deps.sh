#!/usr/bin/env bash
# Installs what building the test kernel and booting it needs (Debian 12). Idempotent: when
# everything is present it only checks and prints nothing. Touches no host-wide setting other
# than adding packages and one apt source for trixie-backports, pinned to priority 100 so that
# nothing else on the machine is ever upgraded from it.
# Usage: vm/kernel-deps.sh CACHE_DIR   (bindgen-cli is installed into CACHE_DIR/cargo)
set -euo pipefail
cache=${1:?cache dir}
mkdir -p "$cache"
export DEBIAN_FRONTEND=noninteractive
log() { echo "kernel-deps: $*" >&2; }

updated=0
apt_update() { [ $updated = 1 ] || { log "apt-get update"; apt-get update -qq; updated=1; }; }

# 1. trixie-backports source with a priority-100 pin (blank line between stanzas).
src=/etc/apt/sources.list.d/msgq-trixie-backports.sources
pin=/etc/apt/preferences.d/msgq-trixie-backports
if [ ! -f "$src" ] || [ ! -f "$pin" ]; then
  [ "$(id -u)" = 0 ] || { log "need root to add the trixie-backports apt source"; exit 1; }
  cat > "$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat > "$pin" <<'PIN'
Package: *
Pin: release n=trixie-backports
Pin-Priority: 100

Package: *
Pin: release a=trixie-backports
Pin-Priority: 100
PIN
  updated=0; apt_update
fi

# 1b. bookworm-backports (also priority 100): the machine image may already carry qemu-utils
# 10.0 from there, which Breaks bookworm's qemu-system-common 7.2, so QEMU comes from there.
src2=/etc/apt/sources.list.d/msgq-bookworm-backports.sources
pin2=/etc/apt/preferences.d/msgq-bookworm-backports
if [ ! -f "$src2" ] || [ ! -f "$pin2" ]; then
  cat > "$src2" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat > "$pin2" <<'PIN'
Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
PIN
  updated=0; apt_update
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
  apt_update
  log "installing qemu-system-x86 from bookworm-backports"
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi

# 2. bookworm packages.
pkgs=(flex bison bc libelf-dev libssl-dev cpio busybox-static libclang-19-dev
      clang-19 xz-utils gcc make python3 kmod file)
# The kasan variant is built with clang: it also needs lld and the llvm binutils.
[ "${KERNEL_DEPS_LLVM:-0}" = 1 ] && pkgs+=(lld-19 llvm-19)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  log "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 3. rust-src from trixie-backports, exactly matching the rustc in use.
rv=$(rustc --version | awk '{print $2}')
have=$(dpkg-query -W -f='${Version}' rust-src 2>/dev/null || true)
if [ "${have%%+*}" != "$rv" ] || [ ! -d /usr/lib/rustlib/src/rust/library/core ]; then
  apt_update
  want=$(apt-cache madison rust-src | awk -v v="$rv" '$3 ~ "^"v"[+]" && /trixie-backports/ {print $3; exit}')
  [ -n "$want" ] || { log "no rust-src $rv in trixie-backports"; exit 1; }
  log "installing rust-src=$want"
  apt-get install -y -qq --no-install-recommends -t trixie-backports "rust-src=$want" >/dev/null
fi

# 4. bindgen-cli (bookworm's bindgen is too old) into the cache.
if [ ! -x "$cache/cargo/bin/bindgen" ]; then
  log "cargo install --locked bindgen-cli (into $cache/cargo)"
  LIBCLANG_PATH=/usr/lib/llvm-19/lib cargo install -q --locked --root "$cache/cargo" bindgen-cli
fi
