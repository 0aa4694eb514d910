#!/bin/sh
# The C API's scenarios (tests/capi/scenarios.c, linked with the msgq library) on the kernel
# module in the guest (mk/capi.mk, `make vm-test`): with MSGQ_BACKEND=kmod every check must
# hold and the transcript must equal the one the userspace engine gives on the host
# (scenarios.expected: the two backends are each other's oracle); with MSGQ_BACKEND=native
# every extension must fail with EOPNOTSUPP. Runs as root and as uid 1000 (busybox sh).
# Usage: guest_run.sh SCENARIOS EXPECTED
set -u
prog=${1:?SCENARIOS} exp=${2:?EXPECTED}
out=$(mktemp /tmp/capi.XXXXXX)
trap 'rm -f "$out"' EXIT
fail=0
if MSGQ_BACKEND=kmod "$prog" > "$out" 2>&1; then
  if diff "$exp" "$out"; then echo "capi-kmod: ok"; else
    echo "capi-kmod: FAIL: the transcript differs from the userspace engine's"; fail=1; fi
else
  cat "$out"; echo "capi-kmod: FAIL"; fail=1
fi
if MSGQ_BACKEND=native "$prog" native > "$out" 2>&1; then echo "capi-native: ok"; else
  cat "$out"; echo "capi-native: FAIL"; fail=1; fi
exit $fail
