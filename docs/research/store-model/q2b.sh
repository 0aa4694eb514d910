#!/bin/bash
# Run inside: unshare -i ./q2b.sh -- same uid, different access: via a supplementary group, via CAP_IPC_OWNER
T=/tmp/research-ns/ipct
sid=$(setpriv --reuid=1001 --regid=2001 --clear-groups $T mkshm 0x99 0660); echo "segment $sid owner 1001 group 2001 mode 0660"
echo "uid 1003 without group 2001: shmat rw: $(setpriv --reuid=1003 --regid=1003 --clear-groups $T shmat $sid rw)"
exec 3< <(setpriv --reuid=1003 --regid=1003 --groups=2001 /tmp/research-ns/q2_holder $sid); read pid addr <&3
echo "## holder uid 1003 + group 2001 attached; probe uid 1003 WITHOUT group 2001:"
setpriv --reuid=1003 --regid=1003 --clear-groups /tmp/research-ns/q2_probe $pid $addr | grep -E 'mem|vm_readv|ptrace'
kill $pid
exec 3< <(setpriv --reuid=1003 --regid=1003 --clear-groups --inh-caps=+ipc_owner --ambient-caps=+ipc_owner /tmp/research-ns/q2_holder $sid); read pid addr <&3
echo "## holder uid 1003 with CAP_IPC_OWNER attached; probe uid 1003 without caps:"
setpriv --reuid=1003 --regid=1003 --clear-groups /tmp/research-ns/q2_probe $pid $addr | grep -E 'mem|vm_readv|ptrace'
kill $pid
