"""Process A of the sysv_ipc test: creates a queue, sends, waits for B's reply.

A and B are started separately (not forked from each other); their outputs, which do not
depend on ids, pids or times, must be the same on native queues and on msgq."""
import sys
import sysv_ipc

KEY = 0x7A7A
q = sysv_ipc.MessageQueue(KEY, sysv_ipc.IPC_CREX, mode=0o600)
print("A: created, max_size", q.max_size, "mode", oct(q.mode))
for t, text in [(3, b"three"), (1, b"one"), (2, b"two"), (5, b"x" * 100)]:
    q.send(text, type=t)
print("A: sent 4, current_messages", q.current_messages)
try:
    sysv_ipc.MessageQueue(KEY, sysv_ipc.IPC_CREX)
except sysv_ipc.ExistentialError as e:
    print("A: IPC_CREX again ->", type(e).__name__)
msg, t = q.receive(type=7)  # blocks until B replies
print("A: got reply", t, msg.decode())
print("A: after reply current_messages", q.current_messages)
q.remove()
try:
    q.send(b"late")
except (sysv_ipc.ExistentialError, OSError) as e:
    print("A: send after remove ->", type(e).__name__, getattr(e, "errno", ""))
sys.stdout.flush()
