#!/bin/bash
# Run inside: unshare -i ./q2.sh
T=/tmp/research-ns/ipct
A="setpriv --reuid=1001 --regid=1001 --clear-groups"
C="setpriv --reuid=1003 --regid=1003 --clear-groups"
sid=$($A $T mkshm 0x1234 0600); echo "segment id $sid, key 0x1234, owner 1001, mode 0600"
for variant in dumpable nodump; do
  echo "################ holder uid 1001 ($variant)"
  exec 3< <($A /tmp/research-ns/q2_holder $sid $([ $variant = nodump ] && echo x)); read pid addr <&3; echo "holder pid $pid addr $addr"
  echo "## /dev/shm listing: $(ls -la /dev/shm | grep -ci sysv) entries matching SYSV; find / -name 'SYSV*' (xdev none):"; find /dev/shm /run /tmp -name 'SYSV*' 2>/dev/null | head -3
  echo "## /proc/sysvipc/shm as uid 1003:"; $C cat /proc/sysvipc/shm
  echo "## hostile other uid 1003:"; $C /tmp/research-ns/q2_probe $pid $addr
  echo "## same uid 1001, other process:"; $A /tmp/research-ns/q2_probe $pid $addr
  echo "## same uid 1001 but holder's mode 0600 denies it? n/a; root:"; /tmp/research-ns/q2_probe $pid $addr
  kill $pid; exec 3<&-
done
