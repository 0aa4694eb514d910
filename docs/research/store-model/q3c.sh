#!/bin/bash
# Run inside: unshare -i ./q3c.sh  -- kernel message memory (slab, SUnreclaim) is released when the IPC ns dies
cd /tmp/research-ns
su(){ awk '/^SUnreclaim:/{print $2}' /proc/meminfo; }
b=$(su); echo "SUnreclaim before: $b kB"
touch ipcns2.bind; unshare --ipc=/tmp/research-ns/ipcns2.bind true
nsenter --ipc=/tmp/research-ns/ipcns2.bind sh -c 'echo 268435456 > /proc/sys/kernel/msgmnb; echo 65536 > /proc/sys/kernel/msgmax; ./q3msg'
echo "SUnreclaim with the queue alive (no process in ns): +$(( $(su) - b )) kB"
umount ipcns2.bind; sleep 0.5
echo "SUnreclaim 0.5 s after the ns's last reference went: +$(( $(su) - b )) kB"
