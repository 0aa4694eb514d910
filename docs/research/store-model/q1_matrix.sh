#!/bin/bash
# Run inside: unshare -i ./q1_matrix.sh   (fresh IPC namespace, as root)
# A=1001 (gid 2001) owns/creates every object; B=1002 in group 2001 (supplementary); C=1003 other.
T=/tmp/research-ns/ipct
A="setpriv --reuid=1001 --regid=2001 --clear-groups"
B="setpriv --reuid=1002 --regid=1002 --groups=2001"
C="setpriv --reuid=1003 --regid=1003 --clear-groups"
CCAP="setpriv --reuid=1003 --regid=1003 --clear-groups --inh-caps=+ipc_owner --ambient-caps=+ipc_owner"
ROOT=""
RNOCAP="capsh --drop=cap_ipc_owner --"
k=100
printf "%-5s %-9s | %-6s %-6s | %-8s %-8s | %-8s %-8s %-8s | %-15s %-6s\n" mode who shmatRO shmatRW shmget0 shmget06 msgget04 msgget02 msgget06 msgrcv msgsnd
for mode in 0600 0400 0200 0640 0620 0604 0606 0660 0066 0000; do
  k=$((k+1))
  sid=$($A $T mkshm $k $mode); qid=$($A $T mkmsg $k $mode)
  for who in A B C CCAP ROOT RNOCAP; do
    eval P=\$$who
    run(){ if [ "$who" = RNOCAP ]; then capsh --drop=cap_ipc_owner -- -c "$T $*"; else $P $T "$@"; fi; }
    printf "%-5s %-9s | %-6s %-6s | %-8s %-8s | %-8s %-8s %-8s | %-15s %-6s\n" $mode $who \
      "$(run shmat $sid ro)" "$(run shmat $sid rw)" "$(run shmget $k 0)" "$(run shmget $k 0600)" \
      "$(run msgget $k 0400)" "$(run msgget $k 0200)" "$(run msgget $k 0600)" "$(run msgrcv $qid)" "$(run msgsnd $qid)"
  done
done
