#!/bin/bash
# Run: setpriv --reuid=1001 --regid=1001 --clear-groups unshare -U -r -i ./q4b.sh   (userns root owning a new IPC ns)
K=/proc/sys/kernel; id -u; cat /proc/self/uid_map
w(){ printf "  write %-16s %-22s: " $1 $2; if echo $2 > $K/$1 2>/dev/null; then echo "OK -> $(cat $K/$1)"; else echo "FAILED ($(echo $2 2>&1 > $K/$1 | sed 's/.*error: //'))"; fi; }
w shmmni 20000; w shmmni 32768; w shmmni 32769; w shmmax 1073741824; w shmall 262144; w msgmni 32768; w msgmni 32769; w msgmax 65536; w msgmnb 1048576; w msg_next_id 7; w sem "250 32000 32 128"
w shmmni 3
echo "  shmmni=3 enforcement: $(for i in 1 2 3 4; do /tmp/research-ns/ipct mkshm $((0x900+i)) 0600 | tr '\n' ' '; done)"
echo "  a new msg queue gets id (msg_next_id was 7): $(/tmp/research-ns/ipct mkmsg 0x1 0600)"
