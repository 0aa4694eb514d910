#!/usr/bin/env bash
# Installs what the tests of `msgq run` need (idempotent, quiet when present), on Debian 12:
# gcc with the static C library (libc6-dev), util-linux (unshare, ipcs), golang-go (Debian's
# Go, built offline: stdlib only); then builds the test programs into target/run-test:
#   prog      tests/run/prog.c, static, raw system calls
#   prog-dyn  the same source with libc's msgsnd & co. (dynamic, for the shim)
#   goprog    tests/run/goprog/main.go (or the file goprog.unavailable saying why not)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/target/run-test
need=()
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
for c in unshare ipcs; do command -v $c >/dev/null || { need+=(util-linux); break; }; done
command -v go >/dev/null || need+=(golang-go)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "run deps: need root to install: ${need[*]}" >&2; exit 1; }
  echo "run deps: installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    echo "run deps: could not install ${need[*]}" >&2
fi
mkdir -p "$OUT"
src=$ROOT/tests/run/prog.c
if [ ! -x "$OUT/prog" ] || [ "$src" -nt "$OUT/prog" ]; then
  gcc -O2 -Wall -Wextra -Werror -static -o "$OUT/prog" "$src"
fi
if [ ! -x "$OUT/prog-dyn" ] || [ "$src" -nt "$OUT/prog-dyn" ]; then
  gcc -O2 -Wall -Wextra -Werror -DUSE_LIBC -o "$OUT/prog-dyn" "$src"
fi
gosrc=$ROOT/tests/run/goprog/main.go
if [ ! -x "$OUT/goprog" ] || [ "$gosrc" -nt "$OUT/goprog" ]; then
  rm -f "$OUT/goprog.unavailable"
  if ! command -v go >/dev/null; then
    echo "golang-go is not installed (apt-get install golang-go failed)" >"$OUT/goprog.unavailable"
  else
    # Offline, with the caches outside the tree; the standard library only.
    export GOCACHE=/var/cache/msgq/go/cache GOPATH=/var/cache/msgq/go/path GOTOOLCHAIN=local \
      GOPROXY=off GOFLAGS= GO111MODULE=off CGO_ENABLED=0
    mkdir -p "$GOCACHE" "$GOPATH" 2>/dev/null || export GOCACHE=$OUT/go-cache GOPATH=$OUT/go-path
    if ! go build -o "$OUT/goprog" "$gosrc" 2>"$OUT/goprog.log"; then
      { echo "go build failed:"; cat "$OUT/goprog.log"; } >"$OUT/goprog.unavailable"
      rm -f "$OUT/goprog"
    fi
  fi
fi
