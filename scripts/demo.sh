#!/usr/bin/env bash
# msgq's main job on the default (userspace) backend: two unrelated processes exchange
# messages through a queue in the shared-memory store, with no daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p msgq-user --example exchange
bin=target/release/examples/exchange
n=${1:-5}
echo "store: $(ls /dev/shm | grep -c '^msgq-' || true) msgq store file(s) under /dev/shm before the run"
"$bin" recv "$n" &
recv=$!
"$bin" send "$n"
wait "$recv"
echo "demo: $n requests and $n replies exchanged between two processes through msgq-user"
