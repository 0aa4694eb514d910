#!/bin/bash
# Run inside: unshare -i ./q1_set.sh
T=/tmp/research-ns/ipct
A="setpriv --reuid=1001 --regid=2001 --clear-groups"
B="setpriv --reuid=1002 --regid=1002 --groups=2001"
C="setpriv --reuid=1003 --regid=1003 --clear-groups"
D="setpriv --reuid=1004 --regid=1004 --clear-groups"
echo "== A (uid 1001, non-root) creates shm and msg, mode 0600"
sid=$($A $T mkshm 0x51 0600); qid=$($A $T mkmsg 0x51 0600); echo "shmid=$sid msqid=$qid"
echo "-- B (not owner) IPC_SET:      shm: $($B $T shmset $sid 1002 1002 0666)   msg: $($B $T msgset $qid 1002 1002 0666)"
echo "-- A IPC_SET uid=1003 gid=3000 mode=0640 (A is not in gid 3000):"
echo "   shm: $($A $T shmset $sid 1003 3000 0640)   msg: $($A $T msgset $qid 1003 3000 0640)"
echo "   $($T shmstat $sid)";  echo "   $($T msgstat $qid)"
echo "-- A (now only cuid) shmat rw: $($A $T shmat $sid rw)  msgsnd: $($A $T msgsnd $qid)   (owner class via cuid)"
echo "-- C (new uid) shmat rw: $($C $T shmat $sid rw)  msgsnd: $($C $T msgsnd $qid)"
echo "-- C (new owner) IPC_SET uid=1004 mode=0606: shm: $($C $T shmset $sid 1004 3000 0606)  msg: $($C $T msgset $qid 1004 3000 0606)"
echo "-- C (no longer uid, not cuid) IPC_SET again: shm: $($C $T shmset $sid 1003 3000 0600)  msg: $($C $T msgset $qid 1003 3000 0600)"
echo "-- A (cuid) can still IPC_SET: shm: $($A $T shmset $sid 1001 2001 0606) msg: $($A $T msgset $qid 1001 2001 0606)"
echo "== revocation: C attaches via 'other rw' (0606), then A sets mode 0600"
coproc H { $C /tmp/research-ns/holder $sid; }
read -r line <&${H[0]}; echo "$line"
echo "-- A IPC_SET mode 0600: $($A $T shmset $sid 1001 2001 0600)"
echo go >&${H[1]}
while read -r line <&${H[0]}; do echo "$line"; done
wait
echo "-- shm nattch etc: $($T shmstat $sid)"
