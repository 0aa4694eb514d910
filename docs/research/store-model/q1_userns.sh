#!/bin/bash
# Run inside: unshare -i ./q1_userns.sh  (IPC ns owned by the initial user ns)
T=/tmp/research-ns/ipct
sid=$(setpriv --reuid=1003 --regid=1003 --clear-groups $T mkshm 0x77 0600)
echo "segment $sid owned by 1003 mode 0600"
echo "uid 1001 -> unshare -U -r (root of a child user ns, same IPC ns): shmat rw: $(setpriv --reuid=1001 --regid=1001 --clear-groups unshare -U -r $T shmat $sid rw)"
echo "   its view: $(setpriv --reuid=1001 --regid=1001 --clear-groups unshare -U -r sh -c "id -u; $T shmstat $sid")" 
echo "uid 1001 -> unshare -U -r -i (root of user ns that owns a NEW IPC ns), segment 0000 created there by itself via other uid impossible; mode 0000 own segment:"
setpriv --reuid=1001 --regid=1001 --clear-groups unshare -U -r -i sh -c "id=\$($T mkshm 0x5 0000); echo \"   new-ns seg \$id shmat rw: \$($T shmat \$id rw)   with cap_ipc_owner dropped: \$(capsh --drop=cap_ipc_owner -- -c \"$T shmat \$id rw\")\""
