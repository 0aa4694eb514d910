#!/bin/bash
# Run inside: unshare -i ./q3a.sh   (everything below happens in nested, fresh IPC namespaces)
cd /tmp/research-ns
shmem(){ awk '/^Shmem:/{print $2}' /proc/meminfo; }
b=$(shmem); echo "Shmem before: $b kB"
touch ipcns.bind; unshare --ipc=/tmp/research-ns/ipcns.bind true    # ns kept alive only by the bind mount, no process in it
echo "ns inode: $(stat -L -c %i ipcns.bind)  (mountinfo: $(grep ipcns.bind /proc/self/mountinfo | awk '{print $4,$5,$9}'))"
nsenter --ipc=/tmp/research-ns/ipcns.bind ./q3mk
echo "Shmem after create, no process in ns: $(shmem) kB"
echo "--- ipcs via nsenter (no process lives in the ns):"; nsenter --ipc=/tmp/research-ns/ipcns.bind ipcs | grep -E '^0x'
echo "--- umount the bind mount (last reference):"
python3 umountwait.py /tmp/research-ns/ipcns.bind $((b+20000))
echo "--- same, but the last reference is a process: unshare -i sh -c './q3mk; sleep 0.3' "
b=$(shmem); unshare -i sh -c './q3mk; echo "Shmem in ns: +$(( $(awk "/^Shmem:/{print \$2}" /proc/meminfo) - '$b' )) kB"; sleep 0.3'; python3 shmemwait.py $((b+20000))
echo "--- an open fd on /proc/PID/ns/ipc also keeps it alive:"
b=$(shmem); unshare -i sh -c './q3mk; sleep 2' & sleep 0.5; exec 7</proc/$(pgrep -n -f 'sleep 2')/ns/ipc; wait
echo "process gone, fd 7 open: Shmem +$(( $(shmem) - b )) kB; ipcs via nsenter --ipc=/proc/self/fd/7:"; nsenter --ipc=/proc/$$/fd/7 ipcs | grep ^0x
exec 7<&-; python3 shmemwait.py $((b+20000))
