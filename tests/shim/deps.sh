#!/usr/bin/env bash
# Installs what the shim's tests run (idempotent, quiet when present), on Debian 12:
# perl (IPC::Msg is in libperl), php8.2-cli (sysvmsg, pcntl, posix), util-linux (ipcmk,
# ipcs, lsipc, ipcrm, unshare), stress-ng, gcc, python3 with venv and headers; then a
# virtualenv with sysv_ipc from PyPI under target/shim-test/venv, and the C test programs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/target/shim-test
need=()
command -v perl >/dev/null && perl -MIPC::Msg -e1 2>/dev/null || need+=(perl)
for c in ipcmk ipcs lsipc ipcrm unshare; do command -v $c >/dev/null || { need+=(util-linux); break; }; done
command -v stress-ng >/dev/null || need+=(stress-ng)
command -v php >/dev/null && php -r 'exit(function_exists("msg_get_queue") && function_exists("pcntl_fork") ? 0 : 1);' 2>/dev/null || need+=(php8.2-cli)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v python3 >/dev/null || need+=(python3)
mkdir -p "$OUT"
if [ ! -x "$OUT/venv/bin/python" ]; then
  python3 -m venv "$OUT/venv" >/dev/null 2>&1 || { need+=(python3-venv python3-dev); rm -rf "$OUT/venv"; }
fi
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "shim deps: need root to install: ${need[*]}" >&2; exit 1; }
  echo "shim deps: installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x "$OUT/venv/bin/python" ] || python3 -m venv "$OUT/venv"
if ! "$OUT/venv/bin/python" -c 'import sysv_ipc' 2>/dev/null; then
  echo "shim deps: pip install sysv_ipc" >&2
  "$OUT/venv/bin/pip" install -q sysv_ipc || {
    # Building from source needs the Python headers.
    [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev gcc >/dev/null
    "$OUT/venv/bin/pip" install -q sysv_ipc
  }
fi
for prog in forksig randops handler sigwrap nsfollow; do
  src=$ROOT/tests/shim/$prog.c
  if [ ! -x "$OUT/$prog" ] || [ "$src" -nt "$OUT/$prog" ]; then
    gcc -O2 -Wall -Wextra -Werror -pthread -o "$OUT/$prog" "$src"
  fi
done
