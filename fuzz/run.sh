#!/usr/bin/env bash
# Builds the libFuzzer targets with stable rustc (the instrumentation flags `cargo fuzz`
# passes, so neither cargo-fuzz nor a nightly toolchain is needed) and runs each for a
# bounded time.
#
#   fuzz/run.sh SECS           run each target SECS seconds from the repo's corpus; new
#                              inputs go to a scratch directory (make test)
#   fuzz/run.sh SECS --merge   the same, then merge inputs that add coverage into
#                              fuzz/corpus/<target> (make fuzz)
#
# Prints each target's executions and ends with `fuzz: N passed, N failed`. A crash leaves
# its input in fuzz/artifacts/<target>/. An input running over 30 s counts as a hang (a generous
# bound: shim_calls inputs that make the kernel allocate huge messages take 1-2 s alone).
#
# shim_calls opens libmsg_shim.so with dlopen; the shim is built here too, with the same
# instrumentation, next to the fuzzer binary (so libFuzzer sees its coverage). It compares
# the shim with the kernel in a private IPC namespace (root, or a user namespace).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-20}
merge=${2:-}
triple=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=$PWD/target
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cdebug-assertions -Coverflow-checks -Ccodegen-units=1"
# libfuzzer-sys compiles libFuzzer (C++).
if ! command -v c++ >/dev/null; then
  echo "fuzz: installing g++ for libFuzzer"
  { apt-get update -qq && apt-get install -y -qq g++; } >/dev/null || { echo "fuzz: g++ is needed"; exit 1; }
fi
cargo build --release --quiet --target "$triple" --bins
cargo build --release --quiet --target "$triple" -p libmsg-shim --manifest-path ../Cargo.toml
passed=0; failed=0; total=0
for t in store_bytes api_sequence shim_calls; do
  bin=target/$triple/release/$t
  new=$(mktemp -d)
  mkdir -p artifacts/$t corpus/$t
  log=$(mktemp)
  # -close_fd_mask=2: the engine names each corrupt store on stderr; libFuzzer keeps its own.
  # shim_calls keeps stderr: a divergence and a panic inside the shim are reported there.
  quiet=-close_fd_mask=2
  [ $t = shim_calls ] && quiet=
  if "$bin" "$new" corpus/$t -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 \
       $quiet -artifact_prefix=artifacts/$t/ -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    missed=$(sed -n 's/^msgq-fuzz: check-missed-damage \([0-9]*\)/\1/p' "$log" | tail -1)
    oracle="no model disagreement"
    [ $t = shim_calls ] && oracle="no shim/kernel divergence"
    grep -q "errno-set oracle" "$log" && oracle="no errno outside the call's set (no private IPC namespace: not compared with the kernel)"
    known=$(sed -n 's/^msgq-fuzz: known divergence: //p' "$log" | sort -u | paste -sd, - | sed 's/,/, /g')
    echo "fuzz: $t: ${runs:-?} executions in ${secs}s, no crash, no hang, $oracle${missed:+ (check() missed damage at least $missed times: known engine gap)}${known:+ (accepted known divergences: $known)}"
    passed=$((passed + 1)); total=$((total + ${runs:-0}))
  else
    echo "fuzz: $t: FAILED (artifacts in fuzz/artifacts/$t/):"
    grep -E -A12 "panicked|disagreement|divergence|ERROR|SUMMARY|Test unit written" "$log" | head -40
    failed=$((failed + 1))
  fi
  if [ "$merge" = --merge ]; then
    "$bin" -merge=1 corpus/$t "$new" $quiet >/dev/null 2>&1 || true
  fi
  rm -rf "$new" "$log"
done
# Scratch store files of fuzzer processes that crashed or were stopped before cleaning up.
for f in /dev/shm/msgq-fuzz-*; do
  [ -e "$f" ] || continue
  pid=$(basename "$f" | sed -n 's/^msgq-fuzz-[a-z]*-\([0-9]*\)-.*/\1/p')
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then rm -f "$f"; fi
done
echo "fuzz: $total libFuzzer executions"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
