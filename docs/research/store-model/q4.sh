#!/bin/bash
# Run: unshare -i ./q4.sh
K=/proc/sys/kernel
show(){ for f in shmmni shmmax shmall shm_rmid_forced msgmni msgmax msgmnb sem shm_next_id msg_next_id sem_next_id auto_msgmni; do printf "%s=%s  " $f "$(cat $K/$f 2>&1 | tr '\t' ' ')"; done; echo; }
echo "== fresh IPC ns (created by real root):"; show
echo 100 > $K/shmmni; echo 50 > $K/msgmni
echo "== after root writes shmmni=100 msgmni=50 in it:"; show
echo "== nested fresh ns inside it (defaults again, not inherited):"; unshare -i bash -c "$(declare -f show); K=$K; show"
echo "== uid 1001 -> unshare -U -r -i (userns root owning the NEW ipc ns):"
setpriv --reuid=1001 --regid=1001 --clear-groups unshare -U -r -i bash -c '
  K=/proc/sys/kernel; ls -ln $K/shmmni $K/msgmni $K/msg_next_id
  for f in shmmni shmmax shmall msgmni msgmax msgmnb shm_rmid_forced msg_next_id; do printf "  write %s: " $f; v=$(cat $K/$f); if [ $f = msg_next_id ]; then v=7; elif [ $f = shm_rmid_forced ]; then v=1; else v=$((v>1000000 ? 1000000 : v/2+1)); fi; if echo $v > $K/$f; then echo "OK -> $(cat $K/$f)"; fi; done
  echo 3 > $K/shmmni; for i in 1 2 3 4; do ipcmk -M 4096 2>&1 | tr "\n" " "; done; echo; echo 20000 > $K/shmmni && echo "  raise shmmni above default 4096 to 20000: OK -> $(cat $K/shmmni)"
  echo 100000 > $K/msgmni && echo "  raise msgmni to 100000: $(cat $K/msgmni)"
' 2>&1
echo "== uid 1001 -> unshare -U -r (userns root, but ipc ns owned by the initial userns):"
setpriv --reuid=1001 --regid=1001 --clear-groups unshare -U -r bash -c 'echo 5 > /proc/sys/kernel/shmmni; echo "  shmmni now $(cat /proc/sys/kernel/shmmni)"' 2>&1
echo "== plain uid 1001 (no userns) write: $(setpriv --reuid=1001 --regid=1001 --clear-groups bash -c 'echo 5 > /proc/sys/kernel/shmmni' 2>&1)"
