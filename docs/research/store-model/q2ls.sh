#!/bin/bash
T=/tmp/research-ns/ipct
sid=$(setpriv --reuid=1001 --regid=1001 --clear-groups $T mkshm 0x1234 0600)
exec 3< <(setpriv --reuid=1001 --regid=1001 --clear-groups /tmp/research-ns/q2_holder $sid); read pid addr <&3
echo "\$ ls -l /proc/$pid/map_files | grep SYSV   # as uid 1001 (same uid)"; setpriv --reuid=1001 --regid=1001 --clear-groups ls -l /proc/$pid/map_files 2>&1 | grep -E 'SYSV|denied'
echo "\$ ls -l /proc/$pid/map_files   # as uid 1003"; setpriv --reuid=1003 --regid=1003 --clear-groups ls -l /proc/$pid/map_files 2>&1 | head -2
echo "\$ cat /proc/$pid/maps   # as uid 1003"; setpriv --reuid=1003 --regid=1003 --clear-groups cat /proc/$pid/maps 2>&1 | head -2
echo "\$ cat /proc/$pid/map_files/<seg> as uid 1001:"; setpriv --reuid=1001 --regid=1001 --clear-groups cat /proc/$pid/map_files/$addr-$(printf %x $((0x$addr+4096))) 2>&1 | head -c 100; echo
kill $pid
