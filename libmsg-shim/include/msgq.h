/* msgq.h: msgq's extensions to System V message queues.
 *
 * Link with the msgq library (pkg-config --cflags --libs msgq). The library is the same
 * one LD_PRELOAD uses: msgget/msgsnd/msgrcv/msgctl and these functions go to the backend
 * MSGQ_BACKEND picks (user, kmod, native). Under MSGQ_BACKEND=native the kernel's own
 * queues can do none of the extensions: asking for one fails with EOPNOTSUPP.
 * Every function returns -1 and sets errno on failure, as its POSIX or SysV cousin.
 * See msgq(3) and docs/extensions.md. */
#ifndef MSGQ_H
#define MSGQ_H

#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>
#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Send flags (bits Linux does not define; the plain msgsnd ignores them, as Linux does). */
#define MSGQ_URGENT    0x01000000 /* to the front: the next message a matching receiver gets */
#define MSGQ_OVERWRITE 0x02000000 /* never block: drop the oldest messages until it fits */
#define MSGQ_BROADCAST 0x04000000 /* a copy to every matching blocked receiver (and peek) */
/* Receive flag. */
#define MSGQ_PEEK      0x08000000 /* copy the message without removing it; may block */

/* msgq_abort's which. */
#define MSGQ_ABORT_RECEIVERS 1
#define MSGQ_ABORT_SENDERS   2

/* msgsnd with the send flags above and a deadline (abstime NULL: none) on clockid
 * (CLOCK_REALTIME or CLOCK_MONOTONIC). ETIMEDOUT when it passes while the call is blocked.
 * Returns 0; with MSGQ_OVERWRITE the number of messages dropped; with MSGQ_BROADCAST the
 * number of blocked callers given the message, blocked peeks included (0: it was queued). */
ssize_t msgq_timedsnd(int msqid, const void *msgp, size_t msgsz, int msgflg,
                      clockid_t clockid, const struct timespec *abstime);

/* msgrcv with MSGQ_PEEK allowed and a deadline. Returns the number of bytes copied. */
ssize_t msgq_timedrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg,
                      clockid_t clockid, const struct timespec *abstime);

/* Discards every message (read permission). Returns how many. */
ssize_t msgq_purge(int msqid);

/* Wakes the blocked receivers, senders or both with ECANCELED. Returns how many. */
ssize_t msgq_abort(int msqid, int which);

/* One queue and selector for msgq_select. */
struct msgq_sel {
    int msqid;    /* the queue */
    int msgflg;   /* MSG_EXCEPT counts; other flags are ignored */
    long msgtyp;  /* as msgrcv's */
    int ready;    /* out: 1 a receive would find a message, 0 not, -errno the queue
                     cannot be watched (EINVAL, EIDRM, EACCES) */
    int reserved;
};

/* Waits until a receive from some entry would find a message (FreeRTOS's queue sets),
 * at most n = 128 entries; nothing is received. Returns how many entries have ready != 0;
 * -1 with ETIMEDOUT at the deadline, EINTR when a signal handler ran. */
int msgq_select(struct msgq_sel *sel, size_t n, clockid_t clockid,
                const struct timespec *abstime);

/* A new file descriptor that poll/select/epoll report readable while a
 * msgrcv(msqid, _, _, msgtyp, msgflg | IPC_NOWAIT) would find a message, and report an
 * event once the queue is gone (POLLIN on the userspace backend, POLLERR|POLLHUP on the
 * kernel module). Close it with close(2); nothing needs to be read from it. */
int msgq_watch_fd(int msqid, long msgtyp, int msgflg);

/* As mq_notify(3): once a message arrives on the queue while it is empty, sev is
 * delivered to this process (SIGEV_SIGNAL, SIGEV_THREAD or SIGEV_NONE), once; the queue's
 * removal ends the registration silently. NULL cancels this process's registration (0
 * either way). EBUSY if this process is already registered. */
int msgq_notify(int msqid, const struct sigevent *sev);

#ifdef __cplusplus
}
#endif

#endif /* MSGQ_H */
