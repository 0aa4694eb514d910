#!/usr/bin/env bash
# Usage: run.sh PREFIX [build]
# Builds tests/capi/scenarios.c against an installed msgq (prefix PREFIX) with pkg-config, as a
# user would, and runs it: on the userspace backend (the default store, in a new IPC
# namespace, and a store file), where its transcript must equal scenarios.expected (the
# transcript the kernel module's run in the guest is compared with too), and on native,
# where every extension must fail with EOPNOTSUPP. With `build`, only builds (for the guest:
# tests/capi/guest_run.sh runs the same program on the kernel module).
set -euo pipefail
root=$1
here=$(cd "$(dirname "$0")" && pwd)
out=$root/../out
mkdir -p "$out"
export PKG_CONFIG_PATH=$root/lib/pkgconfig
# shellcheck disable=SC2046
cc -O1 -Wall -Werror -o "$out/scenarios" "$here/scenarios.c" \
  $(pkg-config --cflags msgq) $(pkg-config --libs msgq) -lpthread -Wl,-rpath,"$root/lib"
[ "${2:-}" = build ] && exit 0
man -l "$root/share/man/man3/msgq.3" >/dev/null 2>&1 || [ ! -x /usr/bin/man ] || {
  echo "capi: the man page does not render"; exit 1; }
fail=0
run() {
  local name=$1; shift
  if "$@" >"$out/$name.out" 2>"$out/$name.err"; then
    echo "capi: $name: every check held"
  else
    echo "capi: $name FAILED:"; cat "$out/$name.out" "$out/$name.err"; fail=1; return
  fi
  if [ "$name" != native ] && ! diff -u "$here/scenarios.expected" "$out/$name.out"; then
    echo "capi: $name: the transcript differs from scenarios.expected"; fail=1
  fi
}
run user-default unshare -i env MSGQ_BACKEND=user "$out/scenarios"
store=$(mktemp -u /dev/shm/msgq-capi-XXXXXX)
run user-file env MSGQ_BACKEND=user MSGQ_STORE="$store" "$out/scenarios"
rm -f "$store"
run native unshare -i env MSGQ_BACKEND=native "$out/scenarios" native
exit $fail
