#!/bin/sh
# The shim issue's unmodified Perl and Python programs on the kernel module, in the guest
# (mk/kmod-scripts.mk, `make vm-test`; docs/kmod.md). Runs as root and as uid 1000 (busybox sh).
#
# Usage: scripts_run.sh SO SHIM_TESTS EXPECTED PERL PYTHON
#   SO: libmsg_shim.so; SHIM_TESTS: tests/shim (perl_msg.pl, py_a.py, py_b.py); EXPECTED:
#   tests/kmod (perl_msg.expected, py_ab.expected; @UID@ stands for the caller's uid);
#   PERL, PYTHON: the interpreters (PYTHON: the venv's, with sysv_ipc). All packed by VM_PACK.
#
# For each program (the Perl script; the Python pair A + B, two separate processes), the way
# tests/shim/run.sh's diffcase compares (stdout+stderr, then `rc=N`):
#   native  no preload, the guest kernel's queues: as root in a fresh IPC namespace
#           (`unshare -i`); as another uid (no user namespaces in the guest kernel) in the
#           current one, after checking that the program's keys are free there;
#   kmod    LD_PRELOAD=SO MSGQ_BACKEND=kmod, while the kernel holds decoy queues at the
#           program's keys with one message each: a call that went to the kernel instead of
#           the module would change the output (a stray message, EEXIST) or the decoys.
# Checks: native output = the expected text; kmod output = native output; decoys untouched.
# Plus a direct check: a queue made through the shim is found through it but not by the
# kernel. Prints `scripts: N passed, N failed`.
set -u
SO=${1:?SO} SHIM=${2:?SHIM_TESTS} EXP=${3:?EXPECTED} PERL=${4:?PERL} PY=${5:?PYTHON}
me=$(id -u)
WORK=$(mktemp -d /tmp/scripts.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export SHIM PERL PY
unset LD_PRELOAD MSGQ_BACKEND
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -z "${2:-}" ] || echo "$2" | head -40 | sed 's/^/     | /'; }
# same NAME WANT GOT
same() {
  if [ "$2" = "$3" ]; then ok "$1"; else
    printf '%s\n' "$2" > "$WORK/want"; printf '%s\n' "$3" > "$WORK/got"
    bad "$1" "$(diff "$WORK/want" "$WORK/got" | sed '1s/^/want < > got: /')"
  fi
}
# run [WRAPPER...] -- SCRIPT: SCRIPT under sh in $WORK, its output then rc=N. It runs in a
# session of its own, killed as a whole after 60 s (a hung program, e.g. py_b.py waiting for
# messages that never come, and its children; rc=137), and writes to a file, so that nothing
# left behind can hold the caller's $(...) open.
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
# Native Perl on the kernel's queues (no preload), for the decoys: KEY... in hex.
#   make: a new queue per key holding one message "decoy KEY"
#   take: print what each key holds in the kernel, then remove it
decoys() {
  "$PERL" -e 'my $op = shift;
    for my $k (@ARGV) {
      if ($op eq "make") {
        my $id = msgget(hex $k, 03600);  # IPC_CREAT | IPC_EXCL | 0600
        defined $id && msgsnd($id, pack("l! a*", 1, "decoy $k"), 04000) or print "decoy $k: $!\n";
        next;
      }
      my $id = msgget(hex $k, 0);
      if (!defined $id) { print "decoy $k: $!\n"; next }
      my $n = 0; my $buf; my @texts;
      while (msgrcv($id, $buf, 100, 0, 04000)) { $n++; push @texts, substr($buf, 8) }
      msgctl($id, 0, 0) or print "decoy $k: IPC_RMID: $!\n";  # IPC_RMID
      print "decoy $k: $n message(s): @texts\n";
    }' "$@"
}
# keys_free KEY...: the kernel (this namespace) has no queue with these keys.
keys_free() {
  "$PERL" -e 'for (@ARGV) { defined msgget(hex $_, 0) and print "key $_ is in use\n" }' "$@"
}

# program NAME EXPECTED_FILE KEYS SCRIPT
program() {
  name=$1 keys=$3 script=$4
  want=$(sed "s/@UID@/$me/g" "$EXP/$2")
  if [ "$me" = 0 ]; then
    nat=$(run unshare -i -- "$script")
  else
    same "$name: its keys ($keys) are free in the kernel" "" "$(keys_free $keys)"
    nat=$(run -- "$script")
  fi
  same "$name: native output is the expected text" "$want" "$nat"
  same "$name: decoys made in the kernel" "" "$(decoys make $keys)"
  shim=$(run env LD_PRELOAD="$SO" MSGQ_BACKEND=kmod -- "$script")
  same "$name: kmod output is the native output" "$nat" "$shim"
  wantd=""
  for k in $keys; do wantd="${wantd:+$wantd
}decoy $k: 1 message(s): decoy $k"; done
  same "$name: the kernel's decoys are untouched (the calls went to the module)" "$wantd" \
    "$(decoys take $keys)"
}

program perl-builtins-and-IPC::Msg perl_msg.expected "0x5151 0x5252" \
  '"$PERL" "$SHIM/perl_msg.pl"'
program python-sysv_ipc-two-processes py_ab.expected "0x7a7a" \
  '"$PY" "$SHIM/py_a.py" > a.out 2>&1 & a=$!; "$PY" "$SHIM/py_b.py" 2>&1; wait $a; cat a.out'

# A queue made through the shim lives in the module: the kernel does not know its key; a
# second process finds it through the shim, with its message.
kmod_perl() { env LD_PRELOAD="$SO" MSGQ_BACKEND=kmod "$PERL" -e "$1" 2>&1; }
got=$(kmod_perl 'my $id = msgget(0x5153, 03600) // die "msgget: $!\n";
  msgsnd($id, pack("l! a*", 4, "in the module"), 0) or die "msgsnd: $!\n"; print "made\n"'
  "$PERL" -e 'print defined msgget(0x5153, 0) ? "the kernel has it\n" : "kernel: $!\n"' 2>&1
  kmod_perl 'my $id = msgget(0x5153, 0) // die "msgget: $!\n";
  msgrcv($id, my $b, 100, 0, 04000) or die "msgrcv: $!\n";
  my ($t, $x) = unpack("l! a*", $b); print "module: type $t, \"$x\"\n";
  msgctl($id, 0, 0) or die "IPC_RMID: $!\n"; print "removed\n"')
same "a queue made through the shim is in the module, not in the kernel" "made
kernel: No such file or directory
module: type 4, \"in the module\"
removed" "$got"

echo "scripts: $pass passed, $fail failed"
[ "$fail" = 0 ]
