#!/usr/bin/env bash
# msgq's main job on the default (userspace) backend: two unrelated processes exchange
# messages through a queue in the shared-memory store, with no daemon.
#
# When it may (root), the demo runs in a new IPC namespace, so it gets a fresh default
# store of its own, exactly as `unshare -i` gives a fresh set of kernel queues.
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
# The store of the demo's own namespace dies with it: remove its file afterwards.
run_and_clean() {
  local ns
  ns=$(readlink /proc/self/ns/ipc); ns=${ns#ipc:[}; ns=${ns%]}
  run
  rm -f "/dev/shm/msgq-$ns-$(id -u)"
}
if [ "${MSGQ_DEMO_NS:-1}" = 1 ] && unshare -i true 2>/dev/null; then
  echo "demo: in a new IPC namespace (its default store: a fresh file under /dev/shm)"
  export -f run run_and_clean; export bin n
  unshare -i bash -c run_and_clean
else
  echo "demo: using this namespace's default store"
  run
fi
echo "demo: $n requests and $n replies exchanged between two processes through msgq-user"
