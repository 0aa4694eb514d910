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
pass=0 fail=0
if MSGQ_BACKEND=kmod "$prog" > "$out" 2>&1; then
  if diff "$exp" "$out"; then echo "ok   capi kmod"; pass=$((pass + 1)); else
    echo "FAIL capi kmod: the transcript differs from the userspace engine's"; fail=$((fail + 1)); fi
else
  cat "$out"; echo "FAIL capi kmod"; fail=$((fail + 1))
fi
if MSGQ_BACKEND=native "$prog" native > "$out" 2>&1; then echo "ok   capi native"; pass=$((pass + 1)); else
  cat "$out"; echo "FAIL capi native"; fail=$((fail + 1)); fi
echo "capi: $pass passed, $fail failed"
[ "$fail" = 0 ]
