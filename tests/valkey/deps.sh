#!/usr/bin/env bash
# Makes Valkey available to the msgq-valkey tests WITHOUT installing a service: downloads the
# debs of valkey-server and valkey-tools (bookworm-backports) and their two libraries, unpacks
# them with `dpkg -x` into a cache outside the tree keyed by the versions, and prints the
# directory holding two wrappers: `valkey-server` and `valkey-cli` (LD_LIBRARY_PATH set).
# Idempotent; prints only the path when everything is cached.
# Usage: tests/valkey/deps.sh            -> /var/cache/msgq/valkey-<ver>/bin
# Env:   MSGQ_VALKEY_CACHE (default /var/cache/msgq), used as the cache root.
set -euo pipefail
CACHE_ROOT=${MSGQ_VALKEY_CACHE:-/var/cache/msgq}
PKGS=(valkey-server valkey-tools libjemalloc2 liblzf1)
log() { echo "valkey deps: $*" >&2; }
export DEBIAN_FRONTEND=noninteractive

# Fast path: a cache entry already made (the newest one) is reused without asking apt.
for d in $(ls -d "$CACHE_ROOT"/valkey-*/ 2>/dev/null | sort -rV); do
  if [ -x "$d/bin/valkey-server" ] && [ -x "$d/bin/valkey-cli" ] && [ -f "$d/.complete" ]; then
    echo "${d%/}/bin"; exit 0
  fi
done

updated=0
apt_update() { [ $updated = 1 ] || { log "apt-get update"; apt-get update -qq >&2; updated=1; }; }

# The bookworm-backports source (priority 100, as vm/kernel-deps.sh adds it).
src=/etc/apt/sources.list.d/msgq-bookworm-backports.sources
pin=/etc/apt/preferences.d/msgq-bookworm-backports
if [ ! -f "$src" ]; then
  [ "$(id -u)" = 0 ] || { log "need root to add the bookworm-backports apt source"; exit 1; }
  cat > "$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  [ -f "$pin" ] || cat > "$pin" <<'PIN'
Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
PIN
  apt_update
fi

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
bpo_version() {
  apt-cache madison "$1" 2>/dev/null | awk -F'|' '/bookworm-backports/ {gsub(/ /,"",$2); print $2; exit}'
}
ver=$(bpo_version valkey-server)
if [ -z "$ver" ]; then apt_update; ver=$(bpo_version valkey-server); fi
[ -n "$ver" ] || { log "valkey-server not found in bookworm-backports"; exit 1; }
upstream=${ver%%+*}; upstream=${upstream%%-*}
dir=$CACHE_ROOT/valkey-$upstream
if [ -f "$dir/.complete" ]; then echo "$dir/bin"; exit 0; fi

log "fetching ${PKGS[*]} ($ver) into $dir"
rm -rf "$dir"; mkdir -p "$dir/debs" "$dir/root" "$dir/bin"
# apt-get download as root warns that the _apt user cannot write the cache dir: harmless.
download() { apt-get download -qq "$@" 2>&1 | grep -v 'unsandboxed as root' >&2 || true; }
(
  cd "$dir/debs"
  download -t bookworm-backports valkey-server valkey-tools
  ls valkey-server_*.deb valkey-tools_*.deb >/dev/null 2>&1 ||
    { apt_update; download -t bookworm-backports valkey-server valkey-tools; }
  for p in libjemalloc2 liblzf1; do
    [ -n "$(candidate "$p")" ] && [ "$(candidate "$p")" != "(none)" ] || apt_update
    download "$p"
    ls "${p}"_*.deb >/dev/null 2>&1 || { log "could not download $p"; exit 1; }
  done
  ls valkey-server_*.deb valkey-tools_*.deb >/dev/null 2>&1 || { log "could not download valkey"; exit 1; }
)
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
lib=$(dirname "$(find "$dir/root" -name 'libjemalloc.so.2' | head -1)")
for tool in valkey-server valkey-cli; do
  cat > "$dir/bin/$tool" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/root/usr/bin/$tool" "\$@"
WRAP
  chmod +x "$dir/bin/$tool"
done
"$dir/bin/valkey-server" --version >/dev/null
"$dir/bin/valkey-cli" --version >/dev/null
touch "$dir/.complete"
echo "$dir/bin"
