#!/bin/sh
# The tools operators use (util-linux's ipcs, ipcmk, ipcrm, lsipc) and PHP's sysvmsg on the
# kernel module, in the guest (mk/kmod-tools.mk, `make vm-test`; docs/kmod.md). Runs as root
# and as uid 1000 (busybox sh).
#
# Usage: tools_run.sh SO TOOLS PHP SHIM_TESTS KMOD_TESTS
#   SO: libmsg_shim.so; TOOLS: the directory of util-linux's tools and tee (/usr/bin); PHP:
#   the php binary; SHIM_TESTS: tests/shim (php_msg.php); KMOD_TESTS: tests/kmod
#   (tools_seq.sh, php_msg.expected; @UID@ stands for the caller's uid). All packed by VM_PACK
#   (tests/kmod/tools_pack.sh). TOOLS_BACKEND (default kmod) is for trying the script on a
#   host with the user backend and MSGQ_STORE (one store for both programs keeps the limits
#   the first one writes: PHP's qbytes then differ; a trial, not a test).
#
# Each program (the util-linux sequence tests/kmod/tools_seq.sh; tests/shim/php_msg.php) runs
#   native  without the preload, on the guest kernel's queues: as root in a fresh IPC
#           namespace (`unshare -i`); as another uid (the guest kernel has no user
#           namespaces) in the current one, after checking that it has no queues;
#   kmod    under LD_PRELOAD=SO MSGQ_BACKEND=kmod (root: in a fresh IPC namespace, so a fresh
#           set of the module's queues and limits; others: the current one, after checking
#           that the module has no queues there), while the kernel holds decoy queues, one
#           message each, at the keys the programs use: a call or a /proc read that reached
#           the kernel instead of the module changes the output (the decoy listed, found,
#           received, EEXIST) or the decoys (removed, emptied, or a stray kernel queue).
# Checks: kmod output = native output after the normaliser (ids for uid != 0, random keys,
# pids, times, runs of blanks); the decoys untouched and no other kernel queue; for PHP also
# native output = the expected text. Prints `tools: N passed, N failed`. TOOLS_VERBOSE=1
# also prints both outputs of each program.
set -u
SO=${1:?SO} TOOLS=${2:?TOOLS} PHP=${3:?PHP} SHIM=${4:?SHIM_TESTS} KT=${5:?KMOD_TESTS}
BACKEND=${TOOLS_BACKEND:-kmod}
me=$(id -u)
WORK=$(mktemp -d /tmp/tools.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export SO TOOLS PHP SHIM KT BACKEND WORK
unset LD_PRELOAD MSGQ_BACKEND
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -z "${2:-}" ] || echo "$2" | head -60 | sed 's/^/     | /'; }
# same NAME WANT GOT
same() {
  if [ "$2" = "$3" ]; then ok "$1"; else
    printf '%s\n' "$2" > "$WORK/want"; printf '%s\n' "$3" > "$WORK/got"
    bad "$1" "$(diff "$WORK/want" "$WORK/got" | sed '1s/^/want < > got: /')"
  fi
}
# run [WRAPPER...] -- SCRIPT: SCRIPT under sh in $WORK, its output then rc=N; a session of
# its own, killed as a whole after 60 s (rc=137); output through a file (as scripts_run.sh).
run() {
  wrap=""
  while [ "$1" != -- ]; do wrap="$wrap $1"; shift; done
  (cd "$WORK" && exec setsid $wrap sh -c "$2" > "$WORK/run.out" 2>&1) &
  pid=$!
  (sleep 60; kill -9 -- "-$pid") > /dev/null 2>&1 &
  dog=$!
  wait "$pid"; rc=$?
  kill -9 -- "-$pid" 2> /dev/null; kill "$dog" 2> /dev/null
  cat "$WORK/run.out"; echo "rc=$rc"
}

# Native PHP (no preload) on the kernel's queues, for the decoys. Keys in decimal.
#   make KEY...: a queue per key holding one message "decoy KEY"
#   take KEY...: every queue of the kernel's /proc/sysvipc/msg: a decoy's key, count and
#                message, or a stray queue; each is removed; then any decoy not found.
cat > "$WORK/decoys.php" <<'PHP'
<?php
$op = $argv[1];
$keys = array_map('intval', array_slice($argv, 2));
if ($op === "make") {
    foreach ($keys as $k) {
        msg_send(msg_get_queue($k, 0600), 1, "decoy $k", false) or print("decoy $k: send failed\n");
    }
    exit(0);
}
$seen = [];
foreach (array_slice(file("/proc/sysvipc/msg"), 1) as $row) {
    $f = preg_split('/\s+/', trim($row));
    [$k, $id, $qnum] = [(int)$f[0], (int)$f[1], (int)$f[4]];
    $q = msg_get_queue($k);
    if (in_array($k, $keys, true)) {
        $seen[] = $k;
        msg_receive($q, 0, $t, 100, $m, false, MSG_IPC_NOWAIT);
        echo "decoy $k: $qnum message(s): $m\n";
    } else {
        echo "stray kernel queue: key $k, $qnum message(s)\n";
    }
    if ($k != 0) msg_remove_queue($q);
}
foreach (array_diff($keys, $seen) as $k) echo "decoy $k: gone\n";
PHP
decoys() { "$PHP" "$WORK/decoys.php" "$@" 2>&1; }

# Normalisers (stdin -> stdout). Times, pids other than 0, ipcmk's random keys (not the
# programs' fixed 0x00007eXX ones), runs of blanks (lsipc sizes its columns to the values);
# for uid != 0 also the ids (the kernel's and the module's initial namespaces have allocated
# different ids before; root's fresh namespaces start alike, so root's ids are compared).
norm_tools() {
  sed -E -e 's/[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [0-9]{4}/TIME/g' \
    -e 's/0x00007e/0xFIXED/g' -e 's/0x[0-9a-f]{8}/KEY/g' -e 's/0xFIXED/0x00007e/g' \
    -e 's/(lspid|lrpid)=[1-9][0-9]*/\1=PID/g' \
    -e 's/^(Msg sender|Msg receiver):( +)[1-9][0-9]*/\1:\2PID/' |
    tr -s ' ' |
    awk -v ids=$([ "$me" = 0 ] && echo 0 || echo 1) '
      # lsipc -q rows: KEY ID PERMS OWNER USEDBYTES MSGS LSPID LRPID
      $1 ~ /^(KEY|0x)/ && NF == 8 && $7 ~ /^[0-9]+$/ {
        if ($7 != 0) $7 = "PID"; if ($8 != 0) $8 = "PID" }
      ids {
        if ($1 ~ /^(KEY|0x)/ && $2 ~ /^[0-9]+$/) $2 = "ID"        # ipcs -q, lsipc -q rows
        if ($0 ~ /^Message queue id: [0-9]+$/) $4 = "ID"         # ipcmk
        if ($1 == "ID:" && $2 ~ /^[0-9]+$/) $2 = "ID"            # lsipc -q -i
        gsub(/msqid=[0-9]+/, "msqid=ID")                         # ipcs -q -i
        gsub(/invalid id \([0-9]+\)/, "invalid id (ID)")         # ipcrm -q
      }
      { print }' | sort_rows
}
# For uid != 0 also the order of the queue rows within a listing (ipcs -q, lsipc -q): the
# rows come in index order, and in the initial namespaces the indexes depend on what was
# allocated before, as the ids do. The module's cyclic index cursor moves with the number of
# queues the earlier, time-bounded tests made (kmod_fuzz), so a listing can start at the end
# of the window and wrap. The rows of each listing are compared sorted.
sort_rows() {
  if [ "$me" = 0 ]; then cat; return; fi
  awk '{ row = ($1 ~ /^(KEY|0x)/ && $2 == "ID" && $3 != "PERMS") }
       !row { n++; printf "%08d %s\n", n, $0; n++; next }
       { printf "%08d %s\n", n, $0 }' | LC_ALL=C sort | cut -c10-
}
norm_none() { cat; }

# The namespace's kernel queues (busybox cat: the kernel's file) and the module's (ipcs under
# the shim), one line each, for the uid != 0 pre-checks.
kernel_rows() { tail -n +2 /proc/sysvipc/msg; }
module_rows() { env LD_PRELOAD="$SO" MSGQ_BACKEND="$BACKEND" "$TOOLS/ipcs" -q | grep '^0x'; }

# program NAME NORMALISER EXPECTED-FILE-OR-- DECOY-KEYS COMMAND
program() {
  name=$1 norm=$2 exp=$3 keys=$4
  printf '%s\n' "$5" > "$WORK/prog.sh"
  cat > "$WORK/kmod.sh" <<'SH'
"$PHP" "$WORK/decoys.php" make $KEYS > "$WORK/decoys.out" 2>&1
env LD_PRELOAD="$SO" MSGQ_BACKEND="$BACKEND" sh "$WORK/prog.sh"; rc=$?
"$PHP" "$WORK/decoys.php" take $KEYS >> "$WORK/decoys.out" 2>&1
exit $rc
SH
  export KEYS="$keys"
  wrap=""
  if [ "$me" = 0 ]; then
    wrap="unshare -i"
  else
    same "$name: no kernel queues in this namespace before" "" "$(kernel_rows)"
    same "$name: no module queues in this namespace before" "" "$(module_rows)"
  fi
  nat=$(run $wrap -- 'sh "$WORK/prog.sh"')
  if [ "$exp" != -- ]; then
    same "$name: native output is the expected text" "$(sed "s/@UID@/$me/g" "$KT/$exp")" "$nat"
  fi
  rm -f "$WORK/decoys.out"
  shim=$(run $wrap -- 'sh "$WORK/kmod.sh"')
  if [ -n "${TOOLS_VERBOSE:-}" ]; then
    printf '%s\n' "--- $name: native" "$nat" "--- $name: $BACKEND" "$shim" "---"
  fi
  same "$name: $BACKEND output is the native output" "$(printf '%s\n' "$nat" | $norm)" \
    "$(printf '%s\n' "$shim" | $norm)"
  wantd=""
  for k in $keys; do wantd="${wantd:+$wantd
}decoy $k: 1 message(s): decoy $k"; done
  same "$name: the kernel's decoys untouched, no other kernel queue (the calls went to the module)" \
    "$wantd" "$(cat "$WORK/decoys.out" 2>&1)"
  [ "$me" = 0 ] || same "$name: no kernel queues left" "" "$(kernel_rows)"
}

program util-linux norm_tools -- "32257" 'TOOLS="$TOOLS" PHP="$PHP" sh "$KT/tools_seq.sh"'
program php-sysvmsg norm_none php_msg.expected "32346" '"$PHP" "$SHIM/php_msg.php"'

echo "tools: $pass passed, $fail failed"
[ "$fail" = 0 ]
