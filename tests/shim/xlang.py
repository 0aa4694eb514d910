"""Python's part of the cross-language test (tests/shim/run.sh, case php-perl-python-ring).

Takes Perl's messages from key 0x7e61 in order, checks them (reversed payloads, types + 10),
and passes each on to key 0x7e62, where PHP waits, with its type - 10 and its bytes reversed
back; then a message of type 99 that wakes PHP's blocked receive. Removes 0x7e61."""
import hashlib
import time
import sysv_ipc


def payload(t, n):
    return bytes((t * 59 + n * 3 + j * 7) & 0xFF for j in range(n))


src = sysv_ipc.MessageQueue(0x7E61, max_message_size=10000)
for _ in range(400):  # PHP's consumer creates 0x7e62
    try:
        dst = sysv_ipc.MessageQueue(0x7E62, max_message_size=10000)
        break
    except sysv_ipc.ExistentialError:
        time.sleep(0.025)
else:
    raise SystemExit("python: 0x7e62 never appeared")
while True:
    try:
        data, t = src.receive(block=False)
    except sysv_ipc.BusyError:
        print("python: then nothing left (BusyError)")
        break
    back = data[::-1]
    ok = t > 10 and back == payload(t - 10, len(back))
    print("python: got type %d, %d bytes, md5 %s, %s"
          % (t, len(data), hashlib.md5(data).hexdigest(), "intact" if ok else "CORRUPT"))
    dst.send(back, type=t - 10)
src.remove()
print("python: removed 0x7e61")
time.sleep(0.2)  # PHP is blocked in msg_receive by now
dst.send(b"done \x00\xff", type=99)
print("python: sent type 99")
