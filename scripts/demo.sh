#!/usr/bin/env bash
# msgq's main job on the default (userspace) backend: two unrelated processes exchange
# messages through a queue in the shared-memory store, with no daemon.
#
# When it may (root), the demo runs in a new IPC namespace, so it gets a fresh default
# store of its own, exactly as `unshare -i` gives a fresh set of kernel queues. The default
# store is the namespace's own: each queue is anchored by a kernel queue and its messages
# live in a System V segment of the namespace, so everything goes with the namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p msgq-user --example exchange
bin=$PWD/target/release/examples/exchange
n=${1:-5}
run() {
  "$bin" recv "$n" &
  local recv=$!
  "$bin" send "$n"
  wait "$recv"
}
if [ "${MSGQ_DEMO_NS:-1}" = 1 ] && unshare -i true 2>/dev/null; then
  echo "demo: in a new IPC namespace (its default store: the namespace's, gone with it)"
  export -f run; export bin n
  unshare -i bash -c run
else
  echo "demo: using this namespace's default store"
  run
fi
echo "demo: $n requests and $n replies exchanged between two processes through msgq-user"
