#!/usr/bin/env bash
# The tests of `msgq run` (docs/run.md): programs the shim cannot reach (a static C binary
# making raw system calls, a Go program) run on msgq through seccomp user notification,
# compared with the same programs on the kernel's queues; a static program under
# `msgq run` meets a dynamic one under the shim; no message is lost when a receiver is
# killed or interrupted.
#
# Every case runs in a fresh IPC namespace (`unshare -i`: the host's queues are never
# touched) with a scratch store (--store in a temporary directory).
#
# Usage: tests/run/run.sh [CASE-NAME-SUBSTRING]   (after `make run-build run-deps`).
# Prints `run: N passed, N failed, N skipped`.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSGQ=$ROOT/target/release/msgq
SO=$ROOT/target/release/libmsg_shim.so
BIN=$ROOT/target/run-test
PROG=$BIN/prog
DYN=$BIN/prog-dyn
GOPROG=$BIN/goprog
ONLY=${1:-}
WORK=$(mktemp -d /tmp/msgq-run-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
unset LD_PRELOAD MSGQ_BACKEND MSGQ_STORE MSGQ_RUN_TEST_REPLY_DELAY_MS
export MSGQ SO PROG DYN GOPROG WORK

for f in "$MSGQ" "$SO" "$PROG" "$DYN"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "run tests: missing $f (run make test-run)" >&2; exit 2; }
done

UNSHARE="unshare -i"
[ "$(id -u)" = 0 ] || UNSHARE="unshare -r -i"
export UNSHARE

pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); printf 'PASS  %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL  %s\n' "$1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/      /'; }
skipped() { skip=$((skip + 1)); printf 'SKIP  %s: %s\n' "$1" "$2"; }
want() { [ -z "$ONLY" ] || [[ $1 == *"$ONLY"* ]]; }

# differential NAME PROGRAM ARGS...: the transcript natively and under `msgq run`. Then,
# in the same namespace, `ipcmk -Q` makes a kernel queue: its id is 0 only if the kernel
# never had a queue there (ids advance on each creation), so under `msgq run` it must be 0
# (msgq answered every call), and natively not (the check can tell).
differential() {
  local name=$1; shift
  local d=$WORK/$name; mkdir -p "$d"
  timeout 30 $UNSHARE bash -c '"$@"; echo "exit $?"; ipcmk -Q >&3' _ "$@" \
    >"$d/native" 2>&1 3>"$d/native-ipcmk"
  timeout 30 $UNSHARE bash -c 'S=$1; shift; "$MSGQ" --store "$S" run -- "$@"; echo "exit $?"
    ipcmk -Q >&3' _ "$d/store" "$@" >"$d/run" 2>&1 3>"$d/run-ipcmk"
  if ! grep -q 'msgget create: ok' "$d/native"; then
    bad "$name" "the native run did not start:" "$(head -5 "$d/native")"
  elif ! diff -u "$d/native" "$d/run" >"$d/diff"; then
    bad "$name" "native and msgq run differ:" "$(cat "$d/diff")"
  elif ! grep -q 'id: 0$' "$d/run-ipcmk" || grep -q 'id: 0$' "$d/native-ipcmk"; then
    bad "$name" "the kernel answered (kernel queue ids after: native $(cat "$d/native-ipcmk"), run $(cat "$d/run-ipcmk"))"
  else
    ok "$name ($(wc -l <"$d/native") lines, the same; the kernel saw no queue)"
  fi
}

# 1. A static C binary making raw system calls: the scripted exchange (types, negative
# types, MSG_EXCEPT, E2BIG/MSG_NOERROR, IPC_STAT/IPC_SET/IPC_INFO, EFAULT, a blocking
# receive and a blocking send completed by forked children, EINTR by alarm(2) with
# SA_RESTART, IPC_RMID ending a blocked child's receive with EIDRM).
if want static-script; then
  if ldd "$PROG" >/dev/null 2>&1; then
    bad static-script "$PROG is not static"
  else
    differential static-script "$PROG" script 0x5150
  fi
fi

# 1b. The calls land in msgq's store, not in the kernel: a static program started by a
# shell (children and exec are covered) puts two messages; `msgq list` sees the queue with
# them and the namespace's kernel queues (ipcs -q) stay empty.
if want store-not-kernel; then
  d=$WORK/store-not-kernel; mkdir -p "$d"
  timeout 30 $UNSHARE bash -c '
    "$MSGQ" --store "$1" run -- sh -c "\"\$0\" put 0x77 hello world" "$PROG" || echo "run failed: $?"
    echo "--- msgq list"; "$MSGQ" --store "$1" list -o KEY,ID,PERMS,USEDBYTES,MSGS --raw --noheadings
    echo "--- ipcs"; ipcs -q | grep -c "^0x" || true
    echo "--- recv"; "$MSGQ" --store "$1" recv --key 0x77 --nowait; "$MSGQ" --store "$1" recv --key 0x77 --nowait
  ' _ "$d/store" >"$d/out" 2>&1
  if grep -Eq '^0x00000077 [0-9]+ rw------- 10 2$' "$d/out" &&
     [ "$(sed -n '/--- ipcs/{n;p}' "$d/out")" = 0 ] &&
     [ "$(sed -n '/--- recv/,$p' "$d/out" | tail -2 | tr '\n' ' ')" = "hello world " ]; then
    ok "store-not-kernel (msgq list sees the queue, ipcs -q none)"
  else
    bad store-not-kernel "$(cat "$d/out")"
  fi
fi

# 2. A static program under `msgq run` and a dynamic one under the shim meet, both ways.
if want shim-meets-run; then
  d=$WORK/shim-meets-run; mkdir -p "$d"
  timeout 30 $UNSHARE bash -c '
    S=$1
    "$MSGQ" --store "$S" run -- "$PROG" get 0x88 3 >"$2/got-run" 2>&1 &
    sleep 0.3
    LD_PRELOAD=$SO MSGQ_BACKEND=user MSGQ_STORE=$S "$DYN" put 0x88 one two three
    wait
    LD_PRELOAD=$SO MSGQ_BACKEND=user MSGQ_STORE=$S "$DYN" get 0x99 2 >"$2/got-shim" 2>&1 &
    sleep 0.3
    "$MSGQ" --store "$S" run -- "$PROG" put 0x99 four five
    wait
    ipcs -q | grep -c "^0x" >"$2/ipcs" || true
  ' _ "$d/store" "$d" >"$d/out" 2>&1
  if [ "$(tr '\n' ' ' <"$d/got-run")" = "one two three " ] &&
     [ "$(tr '\n' ' ' <"$d/got-shim")" = "four five " ] && [ "$(cat "$d/ipcs")" = 0 ]; then
    ok "shim-meets-run (run receives from the shim, the shim from run; no kernel queue)"
  else
    bad shim-meets-run "run got: $(cat "$d/got-run")" "shim got: $(cat "$d/got-shim")" \
      "kernel queues: $(cat "$d/ipcs")" "$(cat "$d/out")"
  fi
fi

# 3. Go (Debian's golang-go, the syscall package): goroutines (other threads) satisfy a
# blocked receive and remove the queue under a blocked receiver; a signal to the blocked
# thread gives EINTR.
if want go-program; then
  if [ -x "$GOPROG" ]; then
    differential go-program "$GOPROG" 0x6060
  else
    skipped go-program "Go test program not built: $(cat "$BIN/goprog.unavailable" 2>/dev/null || echo 'run tests/run/deps.sh')"
  fi
fi

# pid of the program msgq run (pid $1) started.
child_of() {
  local p i
  for i in $(seq 50); do
    p=$(cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{print $1}')
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.02
  done
}

# 4a. No message lost: a receiver killed (SIGKILL) after the supervisor took its message
# and before the reply (MSGQ_RUN_TEST_REPLY_DELAY_MS holds it there): the message must be
# back in the queue. And a receiver killed while blocked, before any message: a message
# sent afterwards stays queued.
if want no-loss-kill; then
  d=$WORK/no-loss-kill; mkdir -p "$d"
  timeout 60 $UNSHARE bash -c '
    S=$1; out=$2
    for round in 1 2 3; do
      MSGQ_RUN_TEST_REPLY_DELAY_MS=600 "$MSGQ" --store "$S" run -- "$PROG" wait1 0x42 >"$out/recv$round" 2>&1 &
      run=$!
      sleep 0.3
      "$MSGQ" --store "$S" send --key 0x42 "taken$round"
      sleep 0.2
      p=$(cat /proc/$run/task/$run/children | awk "{print \$1}")
      kill -9 "$p"
      wait $run
      echo "round $round: receiver printed [$(cat "$out/recv$round")] queue has [$("$MSGQ" --store "$S" recv --key 0x42 --nowait 2>&1)]"
    done
    for round in 1 2 3; do
      "$MSGQ" --store "$S" run -- "$PROG" wait1 0x43 >/dev/null 2>&1 &
      run=$!
      sleep 0.2
      p=$(cat /proc/$run/task/$run/children | awk "{print \$1}")
      kill -9 "$p"
      wait $run
      "$MSGQ" --store "$S" send --key 0x43 "later$round"
      echo "blocked round $round: queue has [$("$MSGQ" --store "$S" recv --key 0x43 --nowait 2>&1)]"
    done
  ' _ "$d/store" "$d" >"$d/out" 2>&1
  expect=$(for r in 1 2 3; do echo "round $r: receiver printed [] queue has [taken$r]"; done
           for r in 1 2 3; do echo "blocked round $r: queue has [later$r]"; done)
  if [ "$(cat "$d/out")" = "$expect" ]; then
    ok "no-loss-kill (3 receivers killed holding a message: put back; 3 killed while blocked)"
  else
    bad no-loss-kill "$(diff <(echo "$expect") "$d/out")"
  fi
fi

# 4a'. The same when the queue filled up meanwhile: the put-back waits for room (the
# receiver's msgq run does not end before it), and the message comes back in front.
if want no-loss-full; then
  d=$WORK/no-loss-full; mkdir -p "$d"
  timeout 30 $UNSHARE bash -c '
    S=$1
    "$MSGQ" --store "$S" limits set --msgmnb 16 >/dev/null
    MSGQ_RUN_TEST_REPLY_DELAY_MS=600 "$MSGQ" --store "$S" run -- "$PROG" wait1 0x45 &
    run=$!
    sleep 0.3
    "$MSGQ" --store "$S" send --key 0x45 taken-1
    sleep 0.1
    "$MSGQ" --store "$S" send --key 0x45 filler-1
    "$MSGQ" --store "$S" send --key 0x45 filler2
    kill -9 "$(awk "{print \$1}" /proc/$run/task/$run/children)"
    sleep 0.6
    "$MSGQ" --store "$S" recv --key 0x45 --nowait
    wait $run
    for i in 1 2 3; do "$MSGQ" --store "$S" recv --key 0x45 --nowait 2>&1; done
  ' _ "$d/store" >"$d/out" 2>&1
  expect=$'filler-1\ntaken-1\nfiller2\nmsgq: receive from 0: No message of desired type (ENOMSG): no message is queued (--nowait: IPC_NOWAIT)'
  if [ "$(cat "$d/out")" = "$expect" ]; then
    ok "no-loss-full (the put-back waited for room, then went in front)"
  else
    bad no-loss-full "$(diff <(echo "$expect") "$d/out")"
  fi
fi

# 4b. No message lost to interruptions: a receiver under msgq run showered with SIGUSR1
# (caught, its receives end with EINTR and are retried) while 100 messages arrive; it
# must get every one, in order, and must have seen EINTR many times (25 ms apart: longer
# than the supervisor's 20 ms slice, after which it looks for signals; the kernel itself
# gives a few EINTRs, for signals that come before the supervisor received the call).
if want no-loss-eintr; then
  d=$WORK/no-loss-eintr; mkdir -p "$d"
  timeout 60 $UNSHARE bash -c '
    S=$1; out=$2
    "$MSGQ" --store "$S" run -- "$PROG" eintr 0x44 100 >"$out/got" 2>"$out/err" &
    run=$!
    sleep 0.3
    p=$(cat /proc/$run/task/$run/children | awk "{print \$1}")
    ( while kill -USR1 "$p" 2>/dev/null; do sleep 0.004; done ) &
    "$MSGQ" --store "$S" run -- "$PROG" slowput 0x44 100 25
    wait $run
    echo "exit $?"
    echo "left: $("$MSGQ" --store "$S" recv --key 0x44 --nowait 2>&1)"
  ' _ "$d/store" "$d" >"$d/out" 2>&1
  n_eintr=$(sed -n 's/^eintr: \([0-9]*\) EINTR.*/\1/p' "$d/err")
  if [ "$(cat "$d/got")" = "$(seq -f 'm%g' 1 100)" ] && grep -q '^exit 0' "$d/out" &&
     grep -q 'left: .*ENOMSG' "$d/out" && [ "${n_eintr:-0}" -ge 10 ]; then
    ok "no-loss-eintr (100 messages, all received in order through $n_eintr EINTRs)"
  else
    bad no-loss-eintr "got $(wc -l <"$d/got") messages; EINTRs: ${n_eintr:-none}" \
      "$(cat "$d/out" "$d/err")" "$(diff <(seq -f 'm%g' 1 100) "$d/got" | head -5)"
  fi
fi

# 4b'. Many blocked callers at once: four receiving processes under one msgq run, each
# blocked most of the time, and 200 messages from a sender under another: every message
# is received exactly once.
if want many-blocked; then
  d=$WORK/many-blocked; mkdir -p "$d"
  timeout 60 $UNSHARE bash -c '
    S=$1; out=$2
    "$MSGQ" --store "$S" run -- sh -c "for i in 1 2 3 4; do \"\$0\" get 0x46 50 >\"\$1/got\$i\" & done; wait" "$PROG" "$out" &
    run=$!
    sleep 0.3
    "$MSGQ" --store "$S" run -- "$PROG" slowput 0x46 200 1
    wait $run; echo "exit $?"
  ' _ "$d/store" "$d" >"$d/out" 2>&1
  if [ "$(cat "$d"/got* | sort -V)" = "$(seq -f 'm%g' 1 200)" ] && [ "$(cat "$d/out")" = "exit 0" ]; then
    ok "many-blocked (4 receivers, 200 messages, each received once: $(wc -l "$d"/got* | awk '$2 != "total" {printf "%s ", $1}'))"
  else
    bad many-blocked "$(cat "$d/out")" "$(diff <(seq -f 'm%g' 1 200) <(cat "$d"/got* | sort -V) | head)"
  fi
fi

# 4c. A receiver blocked under msgq run stops on SIGSTOP (as in Linux: the supervisor
# answers "restart", the kernel stops it and makes the call again after SIGCONT) and then
# gets the message sent after it continued.
if want stop-continue; then
  d=$WORK/stop-continue; mkdir -p "$d"
  timeout 30 $UNSHARE bash -c '
    "$MSGQ" --store "$1" run -- "$PROG" get 0x55 1 &
    run=$!
    sleep 0.3
    p=$(awk "{print \$1}" /proc/$run/task/$run/children)
    kill -STOP "$p"; sleep 0.3; echo "stopped: $(cut -d" " -f3 /proc/$p/stat)"
    kill -CONT "$p"; sleep 0.3; echo "continued: $(cut -d" " -f3 /proc/$p/stat)"
    "$MSGQ" --store "$1" send --key 0x55 after-stop
    wait $run; echo "exit $?"
  ' _ "$d/store" >"$d/out" 2>&1
  expect=$'stopped: T\ncontinued: S\nafter-stop\nexit 0'
  if [ "$(cat "$d/out")" = "$expect" ]; then
    ok "stop-continue"
  else
    bad stop-continue "$(diff <(echo "$expect") "$d/out")"
  fi
fi

# 4d. Permissions are the caller's, not the supervisor's: root's msgq run serves a program
# that dropped to uid 65534 (setpriv), which must get EACCES on root's 0600 queue as it
# does on the kernel's.
if want target-credentials; then
  if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
    skipped target-credentials "needs root and setpriv"
  else
    d=$WORK/target-credentials; mkdir -p "$d"
    script='
      $R "$PROG" put 0x66 from-root; echo "root: $?"
      $R setpriv --reuid=65534 --regid=65534 --clear-groups "$PROG" put 0x66 from-nobody
      echo "nobody: $?"
      $R "$PROG" get 0x66 1'
    timeout 30 $UNSHARE env R= bash -c "$script" >"$d/native" 2>&1
    timeout 30 $UNSHARE env R="$MSGQ --store $d/store run --" bash -c "$script" >"$d/run" 2>&1
    if [ "$(cat "$d/run")" = $'root: 0\nmsgget: EACCES\nnobody: 1\nfrom-root' ] &&
       diff -q "$d/native" "$d/run" >/dev/null; then
      ok "target-credentials (uid 65534 under root's msgq run: EACCES, as on the kernel)"
    else
      bad target-credentials "native:" "$(cat "$d/native")" "run:" "$(cat "$d/run")"
    fi
  fi
fi

# 4e. The default store (no --store): msgq run serves its IPC namespace's default store (the
# queue is there for `msgq list`); a program that moved to another IPC namespace is refused
# with EINVAL and told why, except with a store file, which serves every namespace.
if want ipc-namespace; then
  d=$WORK/ipc-namespace; mkdir -p "$d"
  timeout 30 $UNSHARE bash -c '
    "$MSGQ" run -- "$PROG" put 0x31 default-store; echo "default: $?"
    "$MSGQ" list | grep -c "0x00000031 .* 1 "
    "$MSGQ" run -- unshare -i "$PROG" put 0x32 other-ns 2>"$1/err"; echo "moved: $?"
    grep -c "another IPC namespace" "$1/err"
    "$MSGQ" --store "$1/store" run -- unshare -i "$PROG" put 0x33 file-store; echo "file: $?"
    "$MSGQ" --store "$1/store" recv --key 0x33 --nowait
  ' _ "$d" >"$d/out" 2>&1
  expect=$'default: 0\n1\nmsgget: EINVAL\nmoved: 1\n1\nfile: 0\nfile-store'
  if [ "$(cat "$d/out")" = "$expect" ]; then
    ok "ipc-namespace (the default store; another namespace refused; a store file serves it)"
  else
    bad ipc-namespace "$(diff <(echo "$expect") "$d/out")"
  fi
fi

# 5. Exit status and errors: PROGRAM's status comes back; a missing program is 127.
if want exit-status; then
  d=$WORK/exit-status; mkdir -p "$d"
  timeout 30 $UNSHARE bash -c '
    "$MSGQ" --store "$1" run -- sh -c "exit 7"; echo "status $?"
    "$MSGQ" --store "$1" run -- sh -c "kill -TERM \$\$"; echo "status $?"
    "$MSGQ" --store "$1" run -- /nonexistent/prog 2>&1; echo "status $?"
    "$MSGQ" --backend kmod run -- true 2>&1 | grep -c "user backend only"
  ' _ "$d/store" >"$d/out" 2>&1
  expect=$'status 7\nstatus 143\nmsgq run: /nonexistent/prog: No such file or directory (ENOENT)\nstatus 127\n1'
  if [ "$(cat "$d/out")" = "$expect" ]; then
    ok "exit-status"
  else
    bad exit-status "$(diff <(echo "$expect") "$d/out")"
  fi
fi

echo "run: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
