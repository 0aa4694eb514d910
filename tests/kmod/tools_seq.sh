#!/bin/sh
# The util-linux sequence that tests/kmod/tools_run.sh runs twice, on the guest kernel's
# queues and on the module (under the shim): ipcs -q/-u/-l/-i, ipcmk -Q (with and without
# -p), ipcrm -q/-Q/--all=msg, lsipc -q/-q -i/-g, limits written with tee; as root also
# another uid's view of root's queues (listings, permission errors). Messages are sent
# and received with PHP's sysvmsg (the only packed program that sends). Prints every tool's
# output and status; ids, random keys, pids and times are for the caller to normalise.
# Env: TOOLS (util-linux's and coreutils' directory, /usr/bin), PHP. Busybox sh.
set -u
T=${TOOLS:?} PHP=${PHP:?}
export T
FIXED=0x00007e01   # the queue PHP makes (key 32257)

step() { echo "== $*"; }
# mk ARGS: ipcmk -Q ARGS, its output and status; the new id in $id.
mk() {
  out=$("$T/ipcmk" -Q "$@" 2>&1); rc=$?
  echo "$out"; echo "rc=$rc"; id=${out##*: }
}
# php CODE ARGS: a PHP snippet (the shim, if any, is in the environment).
php() { code=$1; shift; "$PHP" -r "$code" -- "$@" 2>&1; }
# tool ARGS: run a tool, then its status.
tool() { "$T/$@" 2>&1; echo "rc=$?"; }

step "nothing yet"
tool ipcs -q
tool ipcs -q -u
tool ipcs -q -l
tool lsipc -g
step "ipcmk -Q -p 640, ipcmk -Q, ipcmk -Q -p 0604"
mk -p 640; a=$id
mk
mk -p 0604
step "PHP makes $FIXED (mode 600) and sends 3 messages"
php '$q = msg_get_queue(32257, 0600);
  foreach (["hello", "a longer message", "third"] as $i => $m)
    msg_send($q, $i + 1, $m, false) or print("send failed\n");'
p=$("$T/ipcs" -q | awk -v k=$FIXED '$1 == k { print $2 }')
[ -n "$p" ] || echo "no queue with key $FIXED in ipcs -q"
step "listings"
tool ipcs -q
tool ipcs -q -u
tool lsipc -q
tool lsipc -g
step "ipcs -q -i, lsipc -q -i"
tool ipcs -q -i "$a"
tool ipcs -q -i "$p"
tool lsipc -q -i "$p"
tool ipcs -q -i 12345678
tool lsipc -q -i 12345678
step "PHP receives type 2"
php '$q = msg_get_queue(32257);
  msg_receive($q, 2, $t, 100, $m, false, MSG_IPC_NOWAIT, $e) and print("got $t: $m\n") or print("error $e\n");'
tool ipcs -q -i "$p"
tool lsipc -q
step "limits through /proc/sys/kernel (root: accepted; others: EACCES)"
echo 4096 | tool tee /proc/sys/kernel/msgmax
echo 8000 | tool tee /proc/sys/kernel/msgmnb
echo -1 | tool tee /proc/sys/kernel/msgmax
php '$q = msg_get_queue(32257);
  var_dump(msg_send($q, 1, str_repeat("m", 5000), false, false, $e)); echo "error $e\n";'
echo 0 | tool tee /proc/sys/kernel/msgmni
mk
echo 100 | tool tee /proc/sys/kernel/msgmni
tool ipcs -q -l
tool lsipc -g
echo 12345 | tool tee /proc/sys/kernel/msg_next_id
mk -p 600
step "ipcrm -q, ipcrm -Q"
tool ipcrm -q "$a"
tool ipcrm -Q "$FIXED"
tool ipcrm -q "$a"
tool ipcrm -Q 0x00012345
tool ipcrm -q abc
tool ipcs -q
tool ipcs -q -u
step "ipcrm --all=msg"
tool ipcrm --all=msg
tool ipcs -q
tool ipcs -q -u
tool lsipc -q
tool ipcrm --all=msg

# As root only (a fresh namespace, both sides): another user's view of root's queues, with
# the guest's static `runas` (its uid: the `msgq` user of /etc/passwd, or TOOLS_OTHER_UID).
other=$(sed -n 's/^msgq:x:\([0-9]*\):.*/\1/p' /etc/passwd 2>/dev/null)
other=${other:-${TOOLS_OTHER_UID:-}}
if [ "$(id -u)" = 0 ] && [ -n "$other" ] && command -v runas > /dev/null; then
  step "uid $other and root's queues (600, 644, PHP's 0x00007e02 640 with 2 messages)"
  mk -p 600; r1=$id
  mk -p 644; r2=$id
  php '$q = msg_get_queue(32258, 0640);
    msg_send($q, 1, "one", false) && msg_send($q, 2, "two", false) or print("send failed\n");'
  R1=$r1 R2=$r2 runas "$other" "$other" /bin/sh -c '
    tool() { "$T/$@" 2>&1; echo "rc=$?"; }
    tool ipcs -q
    tool ipcs -q -u
    tool lsipc -q
    tool ipcs -q -i "$R1"
    tool lsipc -q -i "$R2"
    tool ipcrm -q "$R1"
    tool ipcrm -q "$R2"
    tool ipcrm -Q 0x00007e02
    tool ipcrm --all=msg
    echo 100 | tool tee /proc/sys/kernel/msgmni
    tool ipcs -q' 2>&1
  echo "rc=$?"
  step "root again"
  tool ipcs -q
  tool ipcrm --all=msg
  tool ipcs -q -u
fi
