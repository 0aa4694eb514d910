"""Process B of the sysv_ipc test: opens A's queue by key, receives, replies."""
import time
import sysv_ipc

KEY = 0x7A7A
for _ in range(400):
    try:
        q = sysv_ipc.MessageQueue(KEY)
        break
    except sysv_ipc.ExistentialError:
        time.sleep(0.025)
else:
    raise SystemExit("B: the queue never appeared")
while q.current_messages < 4:
    time.sleep(0.01)
msg, t = q.receive(type=-2)
print("B: type<=2 ->", t, msg.decode())
msg, t = q.receive()
print("B: first ->", t, msg.decode())
try:
    msg, t = q.receive(type=9, block=False)
except sysv_ipc.BusyError as e:
    print("B: nowait type 9 ->", type(e).__name__)
msg, t = q.receive(type=5)
print("B: type 5 ->", t, len(msg), "bytes")
msg, t = q.receive(block=False)
print("B: last ->", t, msg.decode())
print("B: queue now", q.current_messages, "messages, last_receive_pid is me:",
      q.last_receive_pid == __import__("os").getpid())
time.sleep(0.1)
q.send(b"reply from B", type=7)
print("B: replied")
