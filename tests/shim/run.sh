#!/usr/bin/env bash
# The shim's tests: unmodified programs run on msgq through LD_PRELOAD, compared with the
# same programs on the kernel's queues.
#
# Every differential case runs its script twice, each time in a fresh IPC namespace
# (`unshare -i`, so the host's queues are never touched):
#   native: no preload, the kernel's queues;
#   shim:   bash and everything it starts under LD_PRELOAD=libmsg_shim.so with the user
#           backend on a fresh temporary store (MSGQ_STORE).
# The two outputs (stdout+stderr, then the exit status), after the case's normaliser
# (times, pids and random keys differ by nature), must be identical. A shim run must also
# leave the namespace's kernel queues empty and must have created its store (proof that
# msgq, not the kernel, answered). Other cases compare with a stated expected text.
#
# Usage: tests/shim/run.sh [CASE-NAME-SUBSTRING]   (after `cargo build --release`;
#        tests/shim/deps.sh installs the programs). Prints `shim: N passed, N failed`.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/shim
SO=$ROOT/target/release/libmsg_shim.so
MSGQ=$ROOT/target/release/msgq
PY=$ROOT/target/shim-test/venv/bin/python
FORKSIG=$ROOT/target/shim-test/forksig
RANDOPS=$ROOT/target/shim-test/randops
HANDLER=$ROOT/target/shim-test/handler
SIGWRAP=$ROOT/target/shim-test/sigwrap
NSFOLLOW=$ROOT/target/shim-test/nsfollow
ONLY=${1:-}
WORK=$(mktemp -d /tmp/msgq-shim-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export HERE PY FORKSIG RANDOPS HANDLER SIGWRAP NSFOLLOW MSGQ SO
unset LD_PRELOAD MSGQ_BACKEND MSGQ_STORE

for f in "$SO" "$MSGQ" "$PY" "$FORKSIG" "$RANDOPS" "$HANDLER" "$SIGWRAP" "$NSFOLLOW"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "shim tests: missing $f (run make test-shim)" >&2; exit 2; }
done

# hostile.c is built here (from the source, each run): gcc comes with deps.sh.
HOSTILE=$WORK/hostile
gcc -O2 -Wall -Wextra -Werror -o "$HOSTILE" "$HERE/hostile.c" || { echo "shim tests: cannot build hostile.c" >&2; exit 2; }
export HOSTILE
# deepbind.c opens its library by bare name through its RUNPATH ($ORIGIN/deepbind-lib).
mkdir -p "$WORK/deepbind-lib"
gcc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$WORK/deepbind-lib/libmsgq_deepbind.so" "$HERE/deepbind_lib.c" &&
  gcc -O2 -Wall -Wextra -Werror -o "$WORK/deepbind" "$HERE/deepbind.c" -ldl \
    -Wl,--enable-new-dtags,-rpath,'$ORIGIN/deepbind-lib' ||
  { echo "shim tests: cannot build deepbind.c" >&2; exit 2; }
DEEPBIND=$WORK/deepbind
export DEEPBIND
LOOKUP=$WORK/lookup
gcc -O2 -Wall -Wextra -Werror -o "$LOOKUP" "$HERE/lookup.c" -ldl || { echo "shim tests: cannot build lookup.c" >&2; exit 2; }
export LOOKUP
# bypass.c, dynamic and static (libc6-dev has libc.a).
gcc -O2 -Wall -Wextra -Werror -o "$WORK/bypass" "$HERE/bypass.c" -ldl &&
  gcc -O2 -Wall -Wextra -Werror -static -o "$WORK/bypass-static" "$HERE/bypass.c" 2>/dev/null ||
  { echo "shim tests: cannot build bypass.c" >&2; exit 2; }
BYPASS=$WORK/bypass
export BYPASS

# A new IPC namespace needs CAP_SYS_ADMIN; without root, a user namespace provides it.
UNSHARE="unshare -i"
[ "$(id -u)" = 0 ] || UNSHARE="unshare -r -i"

pass=0
fail=0
n=0

ok() { pass=$((pass + 1)); printf 'PASS  %s\n' "$1"; }
bad() {
  fail=$((fail + 1)); printf 'FAIL  %s\n' "$1"
  [ -n "${2:-}" ] && head -40 <<<"$2" | sed 's/^/      | /'
  return 0
}
want() { # wanted NAME
  [ -z "$ONLY" ] || [[ "$1" == *"$ONLY"* ]]
}

# Normalisers (stdin -> stdout).
norm_none() { cat; }
norm_ipcs() {
  sed -E -e 's/[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [0-9]{4}/TIME/g' \
         -e 's/(lspid|lrpid)=[0-9]+/\1=PID/g'
}
norm_keys() { norm_ipcs | sed -E 's/0x[0-9a-f]{8}/KEY/g'; }
norm_stress() {
  # Only what is decided: the exit status, success and failure lines.
  grep -E 'successful run completed|fail|error|rc=' | sed -E 's/\[[0-9]+\]//; s/ in [0-9.]+s.*//'
}

# diffcase NAME EXPECTATION NORMALISER SCRIPT: run SCRIPT natively and under the shim.
diffcase() {
  local name=$1 expect=$2 normf=$3 script=$4
  want "$name" || return 0
  n=$((n + 1))
  local st=$WORK/store.$n
  printf '      %s: expect %s\n' "$name" "$expect"
  local nat shim
  nat=$(cd "$WORK" && timeout 60 $UNSHARE bash -c "$script" 2>&1; echo "rc=$?")
  shim=$(cd "$WORK" && timeout 60 $UNSHARE env LD_PRELOAD="$SO" MSGQ_BACKEND=user \
           MSGQ_STORE="$st" bash -c "$script"'
           rc=$?; echo "__kernel_queues=$(LD_PRELOAD= tail -n +2 /proc/sysvipc/msg | wc -l)"
           exit $rc' 2>&1; echo "rc=$?")
  local kq
  kq=$(grep -o '__kernel_queues=[0-9]*' <<<"$shim" | tail -1)
  shim=$(grep -v '^__kernel_queues=' <<<"$shim")
  local a b
  a=$($normf <<<"$nat")
  b=$($normf <<<"$shim")
  if [ "$a" != "$b" ]; then
    bad "$name" "$(diff <(echo "$a") <(echo "$b") | sed '1s/^/native < > shim: /')"
  elif [ "$kq" != "__kernel_queues=0" ]; then
    bad "$name" "the shim run left kernel queues ($kq): the shim was bypassed"
  elif [ ! -e "$st" ]; then
    bad "$name" "the shim run never opened its store: msgq was not used"
  elif [ -z "$(grep -v '^rc=' <<<"$a")" ]; then
    bad "$name" "no output at all"
  else
    ok "$name"
  fi
  rm -f "$st"
}

# expectcase NAME EXPECTATION SCRIPT EXPECTED: run SCRIPT (in a fresh IPC namespace, with
# MSGQ_STORE set to a fresh store) and compare its output with EXPECTED.
expectcase() {
  local name=$1 expect=$2 script=$3 expected=$4
  want "$name" || return 0
  n=$((n + 1))
  local st=$WORK/store.$n
  printf '      %s: expect %s\n' "$name" "$expect"
  local out
  out=$(cd "$WORK" && timeout 60 $UNSHARE env MSGQ_STORE="$st" bash -c "$script" 2>&1; echo "rc=$?")
  if [ "$out" == "$expected" ]; then
    ok "$name"
  else
    bad "$name" "$(diff <(echo "$expected") <(echo "$out") | sed '1s/^/expected < > got: /')"
  fi
  rm -f "$st"
}

# The default stores (no MSGQ_STORE) live in /dev/shm: cases that use them run in a new
# mount namespace too, with a tmpfs of their own on /dev/shm, so no store is left behind.
PRIVATE_SHM='mount -t tmpfs msgq-shim-test /dev/shm || exit 99'

# nsdiffcase NAME EXPECTATION MIN-SEGMENTS SCRIPT: as diffcase, but on the default stores
# (no MSGQ_STORE: the shim follows the threads' IPC namespaces, docs/shim.md), each run
# with a private /dev/shm. The default store keeps each queue's memory in a SysV segment of
# the queue's namespace: the shim run must leave at least MIN-SEGMENTS segments in the
# namespace it ends in (proof that msgq, not the kernel, held the messages), and no store
# file in /dev/shm.
nsdiffcase() {
  local name=$1 expect=$2 min=$3 script=$4
  want "$name" || return 0
  n=$((n + 1))
  printf '      %s: expect %s\n' "$name" "$expect"
  local nat shim
  nat=$(cd "$WORK" && timeout 60 $UNSHARE -m bash -c "$PRIVATE_SHM; $script" 2>&1; echo "rc=$?")
  shim=$(cd "$WORK" && timeout 60 $UNSHARE -m env LD_PRELOAD="$SO" MSGQ_BACKEND=user \
           bash -c "$PRIVATE_SHM; $script"'
           rc=$?; echo "__segments=$(LD_PRELOAD= ipcs -m | grep -c "^0x")"
           echo "__stores=$(ls /dev/shm | grep -c "^msgq-")"
           exit $rc' 2>&1; echo "rc=$?")
  local segs stores
  segs=$(grep -o '__segments=[0-9]*' <<<"$shim" | tail -1 | cut -d= -f2)
  stores=$(grep -o '__stores=[0-9]*' <<<"$shim" | tail -1 | cut -d= -f2)
  shim=$(grep -v '^__segments=\|^__stores=' <<<"$shim")
  if [ "$nat" != "$shim" ]; then
    bad "$name" "$(diff <(echo "$nat") <(echo "$shim") | sed '1s/^/native < > shim: /')"
  elif [ "${segs:-0}" -lt "$min" ]; then
    bad "$name" "the shim run left ${segs:-0} segment(s), fewer than $min: msgq did not hold the queues"
  elif [ "${stores:-0}" -ne 0 ]; then
    bad "$name" "the shim run left ${stores} store file(s) in /dev/shm"
  else
    ok "$name"
  fi
}

# nsexpectcase NAME EXPECTATION SCRIPT EXPECTED: as expectcase, without MSGQ_STORE and with
# a private /dev/shm.
nsexpectcase() {
  local name=$1 expect=$2 script=$3 expected=$4
  want "$name" || return 0
  n=$((n + 1))
  printf '      %s: expect %s\n' "$name" "$expect"
  local out
  out=$(cd "$WORK" && timeout 60 $UNSHARE -m bash -c "$PRIVATE_SHM; $script" 2>&1; echo "rc=$?")
  if [ "$out" == "$expected" ]; then
    ok "$name"
  else
    bad "$name" "$(diff <(echo "$expected") <(echo "$out") | sed '1s/^/expected < > got: /')"
  fi
}

# ---- Perl ----
diffcase perl-builtins-and-IPC::Msg \
  "the same results (types, texts, errnos, stat fields) on both; a forked child exchanges messages" \
  norm_none 'perl "$HERE/perl_msg.pl"'

# ---- Python sysv_ipc, two unrelated processes ----
diffcase python-sysv_ipc-two-processes \
  "A creates and sends, B (started separately) finds the queue by key, receives by type and replies; A's blocking receive gets the reply" \
  norm_none '"$PY" "$HERE/py_a.py" > a.out 2>&1 & a=$!; "$PY" "$HERE/py_b.py" 2>&1; wait $a; cat a.out'

# ---- PHP sysvmsg (its extensions are dlopen()ed with RTLD_DEEPBIND: the shim's dlopen) ----
diffcase php-sysvmsg \
  "msg_queue_exists/get/send/receive/stat/set/remove give the same results, errors and stat fields; a forked child and a second PHP process exchange messages" \
  norm_none 'php "$HERE/php_msg.php"'

# ---- PHP, Perl and Python on the same queues ----
# A ring PHP -> Perl -> Python -> PHP (xlang.php, xlang.pl, xlang.py), each a separate
# process: binary payloads (NULs, 0xff, 0 to 8192 bytes) checked by every receiver,
# receives by type, MSG_EXCEPT, E2BIG and MSG_NOERROR, and PHP's blocked receive woken by
# Python's send. Under the shim, PHP's sysvmsg reaches msgq only through the shim's
# dlopen (the extension is opened with RTLD_DEEPBIND): without it PHP's queues are the
# kernel's, Perl finds no 0x7e60 and the run differs and leaves a kernel queue.
diffcase php-perl-python-ring \
  "PHP sends six typed binary messages, Perl takes them by type and passes them on reversed, Python reverses them back to PHP's blocked receive: every payload intact, the same errors, one queue left that ipcs lists" \
  norm_none 'php "$HERE/xlang.php" consume > xlang-consumer.out 2>&1 & c=$!
   php "$HERE/xlang.php" produce; perl "$HERE/xlang.pl"; "$PY" "$HERE/xlang.py" || kill $c
   wait $c; echo "consumer rc=$?"; cat xlang-consumer.out; rm -f xlang-consumer.out
   ipcs -q | awk "/^0x/ {print \$1, \$4, \$5, \$6}"'

diffcase c-dlopen-deepbind \
  "a library opened with RTLD_DEEPBIND, by bare name through the program's RUNPATH, gets the same results (its calls reach msgq: the shim's dlopen clears the flag); dlopen(NULL) and a missing library as libc gives them" \
  norm_none '"$DEEPBIND"'

# Symbol versions, dlsym and dlvsym (docs/shim.md, "Every way a program can still miss the
# shim"): before the shim had its own dlsym and versioned message functions, dlsym in
# libc's handle (Python's ctypes.CDLL("libc.so.6")) and dlvsym(..., "GLIBC_2.2.5") gave
# libc's functions, which reached the kernel (ENOENT under the shim).
diffcase c-symbol-lookups \
  "msgget@GLIBC_2.2.5 (the old version), dlsym with RTLD_DEFAULT, RTLD_NEXT, dlopen(NULL) and libc's handle, dlvsym GLIBC_2.2.5, syscall from libc's handle all reach the same queue; other names in libc's handle are libc's (lookup.c); Python ctypes.CDLL(\"libc.so.6\").msgget makes a queue ipcs lists" \
  norm_none '"$LOOKUP"
   python3 -c "import ctypes; c = ctypes.CDLL(\"libc.so.6\", use_errno=True); q = c.msgget(0x10c5, 0o1600); print(\"ctypes msgget:\", \"ok\" if q >= 0 else ctypes.get_errno())"
   ipcs -q | awk "/^0x/ {print \$1, \$4}"'

# The ways around the shim that remain (docs/shim.md, "Every way a program can still miss
# the shim"): each must still reach the kernel, or the table is out of date. And one that
# is fine: a vfork child's call reaches msgq, with its own pid.
expectcase known-ways-around-the-shim \
  "under the preload, a static program, a program started with env -i and a libc loaded with dlmopen(LM_ID_NEWLM) make kernel queues; a vfork child's msgsnd reaches msgq with its pid (bypass.c)" \
  'export LD_PRELOAD=$SO MSGQ_BACKEND=user
   kq() { echo "  kernel queues: $(LD_PRELOAD= tail -n +2 /proc/sysvipc/msg | wc -l)"; LD_PRELOAD= ipcrm --all=msg; }
   "$BYPASS" vfork; kq
   "$BYPASS-static" msgget; kq
   env -i "$BYPASS" msgget; kq
   "$BYPASS" dlmopen; kq
   "$BYPASS" msgget; kq' \
  'vfork child'"'"'s msgsnd: qnum 1, lspid is the child
  kernel queues: 0
msgget: ok
  kernel queues: 1
msgget: ok
  kernel queues: 1
dlmopen'"'"'d msgget: ok
  kernel queues: 1
msgget: ok
  kernel queues: 0
rc=0'

# ---- util-linux ----
diffcase ipcmk-Q-and-ipcs-q \
  "ipcmk -Q prints ids 0 and 1 (cyclic allocation from a fresh namespace); ipcs -q lists both with modes 600/644 (random keys normalised)" \
  norm_keys 'ipcmk -Q -p 600; ipcmk -Q; ipcs -q'

diffcase ipcs-q-with-messages \
  "after a Perl sender, ipcs -q shows the used bytes and message counts" \
  norm_keys 'ipcmk -Q >/dev/null; ipcmk -Q >/dev/null
   perl -e "msgsnd(0, pack(q(l! a*), 1, q(x) x 10), 0) for 1..3; msgsnd(1, pack(q(l! a*), 2, q()), 0)"
   ipcs -q'

diffcase ipcs-i-ID \
  "ipcs -q -i 0 shows owner, mode, cbytes/qbytes/qnum (times and pids normalised); a missing id fails the same way" \
  norm_keys 'ipcmk -Q -p 640 >/dev/null
   perl -e "msgsnd(0, pack(q(l! a*), 1, q(hello)), 0)"
   ipcs -q -i 0; ipcs -q -i 5; echo "missing rc=$?"'

diffcase ipcs-u-and-ipcs-l \
  "ipcs -u (MSG_INFO: queues, headers, bytes) and ipcs -l (limits from /proc/sys/kernel) agree, also after writing msgmax/msgmnb through /proc" \
  norm_none 'ipcmk -Q >/dev/null; ipcmk -Q >/dev/null
   perl -e "msgsnd(1, pack(q(l! a*), 1, q(abc)), 0) for 1..4"
   ipcs -q -u; ipcs -q -l
   echo 4096 > /proc/sys/kernel/msgmax; echo 9000 > /proc/sys/kernel/msgmnb
   ipcs -q -l; cat /proc/sys/kernel/msgmax /proc/sys/kernel/msgmnb /proc/sys/kernel/msgmni'

diffcase lsipc-q-and-lsipc-g \
  "lsipc -q lists the queues with bytes and counts; lsipc -g shows the same limits and use" \
  norm_keys 'ipcmk -Q -p 600 >/dev/null; ipcmk -Q >/dev/null
   perl -e "msgsnd(0, pack(q(l! a*), 1, q(x) x 100), 0)"
   lsipc -q -o KEY,ID,PERMS,OWNER,USEDBYTES,MSGS,LSPID,LRPID | sed -E "s/ +[0-9]+ +0\$/ PID 0/"
   lsipc -g'

diffcase ipcrm-q-and-Q \
  "ipcrm -q ID and ipcrm -Q KEY remove queues; bad ids and keys fail with the same messages and statuses" \
  norm_none 'ipcmk -Q >/dev/null; ipcmk -Q >/dev/null; ipcmk -Q >/dev/null
   key=$(awk "NR==3 {print \$1}" /proc/sysvipc/msg)
   ipcrm -q 0; echo "rm id rc=$?"
   ipcrm -Q "$key"; echo "rm key rc=$?"
   ipcrm -q 0; echo "rm again rc=$?"
   ipcrm -Q 0x12345; echo "rm missing key rc=$?"
   tail -n +2 /proc/sysvipc/msg | awk "{print \$2}"
   ipcrm --all=msg; echo "all rc=$?"; tail -n +2 /proc/sysvipc/msg | wc -l'

diffcase proc-sysctl-files \
  "the limit files read like the kernel's; bad writes fail with EINVAL; msg_next_id picks the next id and resets to -1" \
  norm_none 'for f in msgmax msgmnb msgmni msg_next_id; do echo "$f=$(cat /proc/sys/kernel/$f)"; done
   echo -1 > /proc/sys/kernel/msgmax; echo "bad write rc=$?"
   echo abc > /proc/sys/kernel/msgmni; echo "junk write rc=$?"
   echo 40000 > /proc/sys/kernel/msgmni; echo "big msgmni rc=$?"
   echo 12345 > /proc/sys/kernel/msg_next_id; ipcmk -Q; cat /proc/sys/kernel/msg_next_id
   echo 0 > /proc/sys/kernel/msgmni; ipcmk -Q; echo "msgmni=0 rc=$?"
   python3 -c "open(\"/proc/sys/kernel/msgmni\", \"w\").write(\"7\")"; cat /proc/sys/kernel/msgmni
   perl -e "open(my \$f, q(>), q(/proc/sys/kernel/msgmnb)) or die; for my \$v (qq(-3\n), qq(5000\n)) { my \$r = syswrite(\$f, \$v); print defined \$r ? qq(syswrite \$r\n) : qq(syswrite: \$!\n) }"
   cat /proc/sys/kernel/msgmnb
   echo 3000 | dd of=/proc/sys/kernel/msgmnb status=none; echo "dd rc=$? msgmnb=$(cat /proc/sys/kernel/msgmnb)"
   exec 4> /proc/sys/kernel/msgmax; echo 2048 >&4; exec 4>&-; echo "msgmax=$(cat /proc/sys/kernel/msgmax)"
   head -1 /proc/sysvipc/msg; tail -n +2 /proc/sysvipc/msg | awk "{print \$2, \$3, \$4, \$5}"'

# ---- stress-ng ----
diffcase stress-ng-msg \
  "stress-ng --msg (2 workers, 100000 bogo ops, 4 types, --verify) completes successfully with no failure lines" \
  norm_stress 'stress-ng --msg 2 --msg-ops 100000 --msg-types 4 --verify -t 60 2>&1 | cat; echo "rc=${PIPESTATUS[0]}"'

# ---- the C program ----
diffcase c-fork-signals-threads \
  "send/receive across fork; EINTR with SA_RESTART for blocked msgrcv and msgsnd; EIDRM wake; 3 blocked threads; EFAULT; syscall() with dirty upper halves; seteuid" \
  norm_none '"$FORKSIG"'

diffcase c-random-operations \
  "3 fixed-seed sequences of 3000 non-blocking msgget/msgsnd/msgrcv/msgctl calls give the same result, errno, received type and text checksum, and stat fields, line for line" \
  norm_none 'for seed in 11 12 13; do "$RANDOPS" $seed 3000; done'

diffcase c-hostile-calls \
  "NULL, unmapped, read-only, misaligned and page-straddling pointers; negative and huge sizes; unknown flags and commands, IPC_64, MSG_COPY misuse; syscall() with dirty upper halves; open/openat/fopen with unreadable, unterminated and overlong paths; msg_next_id naming a taken index: the same results, errnos and buffer bytes (hostile.c)" \
  norm_none '"$HOSTILE"'

# Signal handlers (docs/shim.md, "Signal handlers"): the shim wraps every handler so that
# it tells the engine it ran; a blocked call then returns EINTR wherever the handler lands
# (before the wrapping, a handler that ran while the call waited for the store lock or
# spun was missed and the call waited for ever: the watchdogs print HUNG).
diffcase c-signal-handlers-and-eintr \
  "sigaction/signal/bsd_signal/ssignal/sysv_signal/sigset/siginterrupt report the program's handlers, flags and masks; SA_SIGINFO, SA_RESETHAND, SA_NODEFER behave; EINVAL cases; a program SIGSEGV handler and EFAULT coexist; a racing handler change is harmless; alarm(1) then a blocked msgrcv (empty queue) or msgsnd (full queue), 10 times for each of 7 ways of installing the handler, with a process hammering another queue: EINTR every time (sigwrap.c)" \
  norm_none '"$SIGWRAP" 10 1'

diffcase perl-alarm-msgrcv-eintr \
  "Perl: \$SIG{ALRM}, alarm 1, then a blocked msgrcv (empty queue) or msgsnd (full queue), 3 times each, another process hammering: \$! == EINTR every time (perl_alarm.pl)" \
  norm_none 'perl "$HERE/perl_alarm.pl" 3'

expectcase signal-handlers-native-backend \
  "MSGQ_BACKEND=native: the signal wrappers are transparent (sigwrap.c prints exactly what it prints without the preload)" \
  'a=$("$SIGWRAP" 2 2>&1; echo "rc=$?"); b=$(LD_PRELOAD=$SO MSGQ_BACKEND=native "$SIGWRAP" 2 2>&1; echo "rc=$?")
   if [ "$a" = "$b" ]; then echo "same output"; else diff <(echo "$a") <(echo "$b"); fi
   echo "store: $(test -e "$MSGQ_STORE" && echo exists || echo none)"' \
  'same output
store: none
rc=0'

# Handlers that interrupt a message call run when the call has returned, as Linux runs
# them on the way back to user space (docs/shim.md, "Engine notes"): the shim's trampoline
# records a delivery that lands inside an engine call and runs the handler just before the
# call's result (errno set again afterwards) goes back to the program. So a handler may
# make message calls itself (the engine is not re-entrant: before this, such a call failed
# with EDEADLK), siglongjmp out of a blocked call without leaving anything held, and
# clobber errno without changing what the interrupted call reports.
diffcase c-msgsnd-in-signal-handler \
  "a handler's msgsnd, while the thread is blocked in msgrcv, succeeds; the msgrcv gets EINTR; the message is then received (handler.c)" \
  norm_none 'RUST_BACKTRACE=0 "$HANDLER"'

diffcase c-handlers-after-the-call \
  "a handler that sets errno leaves the blocked msgrcv's EINTR alone; a handler that siglongjmps out of a blocked msgrcv (twice) leaves the queue usable (msgsnd, blocking msgrcv of a waiting and of a later message); a real-time signal sigqueue'd twice while msgrcv is blocked runs the handler twice, values in order (handler.c after)" \
  norm_none 'RUST_BACKTRACE=0 "$HANDLER" after'

# ---- IPC namespace changes (docs/shim.md, "IPC namespaces") ----
# Before the shim followed them, every thread of a process stayed on the store chosen when
# the backend started: after unshare(CLONE_NEWIPC), msgget(K, 0) still found K.
nsdiffcase c-ipc-namespace-changes \
  "after unshare(CLONE_NEWIPC) msgget(K, 0) is ENOENT and new queues start at id 0, a forked child sees the new namespace; setns back (CLONE_NEWIPC, then 0) finds K again; clone(CLONE_NEWIPC|SIGCHLD) and clone(CLONE_VM|CLONE_VFORK|CLONE_NEWIPC) children get ENOENT while the parent keeps K; a thread that unshares gets ENOENT while the main thread keeps seeing K; syscall(SYS_unshare)/syscall(SYS_setns) in a child; failed calls change nothing (nsfollow.c); under the shim the queues' memory is segments of their namespaces" \
  1 '"$NSFOLLOW"'

nsexpectcase ipc-namespace-stores-unmapped \
  "a thread that leaves its IPC namespace (or exits) detaches the queue segments it attached there, which would keep the namespace alive; msgget of an existing key attaches nothing; a forked child detaches the segments only the parent's other threads had attached (nsfollow.c maps: segments attached)" \
  'LD_PRELOAD=$SO MSGQ_BACKEND=user "$NSFOLLOW" maps' \
  'start: 1 segments attached
thread in its own namespace: 2 segments attached
after that thread exited: 1 segments attached
unshared, no call yet: 1 segments attached
unshared, after a call: 1 segments attached
back home, after a call: 0 segments attached
after 3 threads in the same namespace: 0 segments attached
a thread in its own namespace: 1 segments attached
forked child: 0 segments attached
forked child, after a call: 0 segments attached
parent after the fork: 1 segments attached
after that thread exited: 0 segments attached
rc=0'

expectcase ipc-namespace-msgq-store-fixed \
  "MSGQ_STORE names one store for every namespace: after unshare, in a clone child and in a thread that unshared, K is still found (nsfollow.c)" \
  'LD_PRELOAD=$SO MSGQ_BACKEND=user "$NSFOLLOW" | grep -E "^(unshared|thread|clone\(CLONE_NEWIPC\|SIGCHLD\) child): "' \
  'unshared: K id=1 qnum=1
unshared: created K id=1 (OK)
unshared: a private queue id=2
clone(CLONE_NEWIPC|SIGCHLD) child: K id=1 qnum=1
clone(CLONE_NEWIPC|SIGCHLD) child: created K id=1 (OK)
clone(CLONE_NEWIPC|SIGCHLD) child: child exit 7
thread: unshare(CLONE_NEWIPC): OK
thread: K id=1 qnum=1
thread: created K id=1 (OK)
rc=0'

expectcase ipc-namespace-native-backend \
  "MSGQ_BACKEND=native: the namespace wrappers are transparent (nsfollow.c prints exactly what it prints without the preload, each in a fresh namespace)" \
  'a=$(unshare -i "$NSFOLLOW" 2>&1; echo "rc=$?"); b=$(LD_PRELOAD=$SO MSGQ_BACKEND=native unshare -i "$NSFOLLOW" 2>&1; echo "rc=$?")
   if [ "$a" = "$b" ]; then echo "same output"; else diff <(echo "$a") <(echo "$b"); fi
   echo "store: $(test -e "$MSGQ_STORE" && echo exists || echo none)"' \
  'same output
store: none
rc=0'

# ---- isolation and backends ----
expectcase without-preload-sees-kernel-only \
  "a queue made through the shim is invisible without the preload, and a kernel queue is invisible through the shim" \
  'LD_PRELOAD=$SO ipcmk -Q > /dev/null; ipcmk -Q -p 600 > /dev/null
   echo "kernel: $(ipcs -q | grep -c "^0x") queue(s), perms $(tail -n +2 /proc/sysvipc/msg | awk "{print \$3}")"
   echo "shim:   $(LD_PRELOAD=$SO ipcs -q | grep -c "^0x") queue(s), perms $(LD_PRELOAD=$SO tail -n +2 /proc/sysvipc/msg | awk "{print \$3}")"
   echo "store:  $("$MSGQ" list --json | grep -o "\"perms\": \"[rwx-]*\"")"' \
  'kernel: 1 queue(s), perms 600
shim:   1 queue(s), perms 644
store:  "perms": "rw-r--r--"
rc=0'

expectcase backend-kmod-unavailable \
  "MSGQ_BACKEND=kmod without /dev/msgq: one stderr line, ENOSYS from the calls, nothing on stdout, no crash" \
  'LD_PRELOAD=$SO MSGQ_BACKEND=kmod perl -e "for (1..3) { defined msgget(0, 01000) or print STDERR \"msgget: \$!\n\" }" 2>err >out
   echo "stdout bytes: $(wc -c < out)"; cat err' \
  'stdout bytes: 0
msgq: MSGQ_BACKEND=kmod: /dev/msgq: No such file or directory (os error 2) (is the msgq module loaded?); System V message calls fail with errno 38 (use MSGQ_BACKEND=user or native)
msgget: Function not implemented
msgget: Function not implemented
msgget: Function not implemented
rc=0'

expectcase backend-store-unusable \
  "a store that cannot be created: one clear stderr line naming it, the errno (ENOENT) from the calls" \
  'LD_PRELOAD=$SO MSGQ_STORE=/nonexistent/dir/store perl -e "msgget(0, 01000) // print STDERR \"msgget: \$!\n\"; msgget(0, 01000) // print STDERR \"again: \$!\n\""' \
  'msgq: msgq store /nonexistent/dir/store: No such file or directory (os error 2); the userspace backend cannot start, System V message calls fail with errno 2
msgget: No such file or directory
again: No such file or directory
rc=0'

expectcase backend-native-passthrough \
  "MSGQ_BACKEND=native: the calls and /proc reach the kernel" \
  'LD_PRELOAD=$SO MSGQ_BACKEND=native ipcmk -Q > /dev/null
   echo "kernel: $(tail -n +2 /proc/sysvipc/msg | wc -l)"
   echo "native view: $(LD_PRELOAD=$SO MSGQ_BACKEND=native ipcs -q | grep -c "^0x")"
   echo "store: $(test -e "$MSGQ_STORE" && echo exists || echo none)"' \
  'kernel: 1
native view: 1
store: none
rc=0'

expectcase msgq-command \
  "the msgq command works on the store the shim programs use: list, send/recv across, show, limits, check, rm, remove-store" \
  'export LD_PRELOAD=$SO
   ipcmk -Q > /dev/null
   env -u LD_PRELOAD "$MSGQ" mk --key 0x42 --mode 600
   env -u LD_PRELOAD "$MSGQ" send 0 "from the msgq command" --type 3
   perl -e "msgrcv(0, \$b, 100, 0, 0); print substr(\$b, 8), \"\n\"; msgsnd(1, pack(q(l! a*), 5, q(from perl)), 0)"
   env -u LD_PRELOAD "$MSGQ" recv --key 0x42 --print-type
   env -u LD_PRELOAD "$MSGQ" list -o ID,PERMS,USEDBYTES,MSGS --numeric-perms --raw
   env -u LD_PRELOAD "$MSGQ" limits set --msgmax 1000
   echo "msgmax via /proc: $(cat /proc/sys/kernel/msgmax)"
   env -u LD_PRELOAD "$MSGQ" check > /dev/null && echo "check ok"
   env -u LD_PRELOAD "$MSGQ" rm 0 --key 0x42
   env -u LD_PRELOAD "$MSGQ" list --json
   env -u LD_PRELOAD "$MSGQ" remove-store && test ! -e "$MSGQ_STORE" && echo "store removed"' \
  '1
from the msgq command
5	from perl
ID PERMS USEDBYTES MSGS
0 644 0 0
1 600 0 0
msgmax via /proc: 1000
check ok
{
   "messages": [
   ]
}
store removed
rc=0'

echo "shim: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
