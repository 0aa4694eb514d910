/* A program making System V message queue calls as raw system calls (syscall(2)), so that
 * only the kernel or `msgq run` can answer them: built static (cc -static) for the tests of
 * `msgq run` (tests/run/run.sh). Built with -DUSE_LIBC it calls libc's msgsnd & co. instead
 * (for the shim, which replaces those).
 *
 *   prog script KEY        the scripted exchange; prints a transcript that must be the same
 *                          natively and under msgq run
 *   prog put KEY TEXT...   creates the queue, sends each TEXT (type 1)
 *   prog slowput KEY N MS  sends "m1".."mN", MS milliseconds apart
 *   prog get KEY N         receives N messages (blocking), prints each
 *   prog eintr KEY N       receives N messages, retrying each receive that EINTR ends (a
 *                          SIGUSR1 handler counts them); prints the texts
 *   prog wait1 KEY         receives one message, prints it (for the SIGKILL tests)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef USE_LIBC
#define q_get(k, f) msgget(k, f)
#define q_snd(i, p, s, f) msgsnd(i, p, s, f)
#define q_rcv(i, p, s, t, f) msgrcv(i, p, s, t, f)
#define q_ctl(i, c, b) msgctl(i, c, b)
#else
#define q_get(k, f) ((int)syscall(SYS_msgget, (long)(k), (long)(f)))
#define q_snd(i, p, s, f) ((int)syscall(SYS_msgsnd, (long)(i), (p), (size_t)(s), (long)(f)))
#define q_rcv(i, p, s, t, f) syscall(SYS_msgrcv, (long)(i), (p), (size_t)(s), (long)(t), (long)(f))
#define q_ctl(i, c, b) ((int)syscall(SYS_msgctl, (long)(i), (long)(c), (b)))
#endif

struct msg {
    long mtype;
    char mtext[256];
};

static const char *ename(int e) {
    switch (e) {
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case ENOMSG: return "ENOMSG";
    case E2BIG: return "E2BIG";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EINTR: return "EINTR";
    case EIDRM: return "EIDRM";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    default: return "E?";
    }
}

#define OUT(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
#define RES(what, r) do { if ((r) < 0) OUT("%s: -1 %s\n", what, ename(errno)); \
                          else OUT("%s: ok\n", what); } while (0)

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static int send_text(int id, long type, const char *t, int flags) {
    struct msg m;
    m.mtype = type;
    size_t n = strlen(t);
    memcpy(m.mtext, t, n);
    return q_snd(id, &m, n, flags);
}

static void recv_show(const char *what, int id, size_t sz, long type, int flags) {
    struct msg m;
    memset(&m, 0, sizeof m);
    long n = q_rcv(id, &m, sz, type, flags);
    if (n < 0)
        OUT("%s: -1 %s\n", what, ename(errno));
    else
        OUT("%s: %ld type %ld '%.*s'\n", what, n, m.mtype, (int)n, m.mtext);
}

static volatile sig_atomic_t handled;
static void on_signal(int sig) { (void)sig; handled++; }

static int script(key_t key) {
    int id = q_get(key, IPC_CREAT | 0600);
    OUT("msgget create: %s\n", id >= 0 ? "ok" : ename(errno));
    RES("msgget excl", q_get(key, IPC_CREAT | IPC_EXCL | 0600));
    OUT("msgget again same id: %s\n", q_get(key, 0) == id ? "yes" : "no");
    RES("msgget missing key", q_get(key + 1, 0));
    RES("send 3 c1", send_text(id, 3, "c1", 0));
    RES("send 1 a1", send_text(id, 1, "a1", 0));
    RES("send 2 b1", send_text(id, 2, "b1", 0));
    RES("send 1 a2", send_text(id, 1, "a2", 0));
    RES("send type 0", send_text(id, 0, "zero", 0));
    RES("send NULL", q_snd(id, NULL, 4, 0));
    RES("send bad id", send_text(id + 1000000, 1, "x", 0));
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    RES("IPC_STAT", q_ctl(id, IPC_STAT, &ds));
    OUT("stat: qnum %lu cbytes %lu qbytes %lu mode %o uid-is-me %d lspid-is-me %d "
        "lrpid %d stime-set %d\n",
        (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes,
        (unsigned long)ds.msg_qbytes, ds.msg_perm.mode & 0777,
        ds.msg_perm.uid == geteuid(), ds.msg_lspid == getpid(), ds.msg_lrpid,
        ds.msg_stime != 0);
    RES("IPC_STAT NULL", q_ctl(id, IPC_STAT, NULL));
    recv_show("recv 0", id, 256, 0, 0);
    recv_show("recv 1", id, 256, 1, 0);
    recv_show("recv -2", id, 256, -2, 0);
    recv_show("recv EXCEPT 1", id, 256, 1, MSG_EXCEPT);
    recv_show("recv empty NOWAIT", id, 256, 0, IPC_NOWAIT);
    RES("send 7 longtext", send_text(id, 7, "longtext", 0));
    recv_show("recv size 3", id, 3, 0, IPC_NOWAIT);
    recv_show("recv size 3 NOERROR", id, 3, 0, IPC_NOWAIT | MSG_NOERROR);
    recv_show("recv negative size", id, (size_t)-1, 0, IPC_NOWAIT);
    recv_show("recv huge size", id, (size_t)1 << 40, 0, IPC_NOWAIT | MSG_NOERROR);
    RES("send huge size", q_snd(id, &ds, (size_t)1 << 40, 0));
    memset(&ds, 0, sizeof ds);
    (void)q_ctl(id, IPC_STAT, &ds);
    OUT("stat: qnum %lu lrpid-is-me %d\n", (unsigned long)ds.msg_qnum, ds.msg_lrpid == getpid());
    ds.msg_qbytes = 4096;
    ds.msg_perm.mode = 0640;
    RES("IPC_SET", q_ctl(id, IPC_SET, &ds));
    memset(&ds, 0, sizeof ds);
    (void)q_ctl(id, IPC_STAT, &ds);
    OUT("stat after set: qbytes %lu mode %o\n", (unsigned long)ds.msg_qbytes,
        ds.msg_perm.mode & 0777);
    struct msginfo mi;
    memset(&mi, 0, sizeof mi);
    int r = q_ctl(0, IPC_INFO, (struct msqid_ds *)&mi);
    OUT("IPC_INFO: %s msgmax %d msgmnb %d\n", r >= 0 ? "ok" : ename(errno), mi.msgmax,
        mi.msgmnb);
    RES("msgctl bad cmd", q_ctl(id, 12345, &ds));

    /* A blocked receive satisfied by another process (whose calls are routed too). */
    pid_t c = fork();
    if (c == 0) {
        nap(200);
        send_text(id, 5, "late", 0);
        _exit(0);
    }
    recv_show("blocking recv 5", id, 256, 5, 0);
    waitpid(c, NULL, 0);
    memset(&ds, 0, sizeof ds);
    (void)q_ctl(id, IPC_STAT, &ds);
    OUT("stat: lspid-is-child %d\n", ds.msg_lspid == c);

    /* A blocked send (queue full) completed by a receiver in another process. */
    ds.msg_qbytes = 8;
    (void)q_ctl(id, IPC_SET, &ds);
    RES("send fill", send_text(id, 1, "12345678", 0));
    RES("send full NOWAIT", send_text(id, 1, "9", IPC_NOWAIT));
    c = fork();
    if (c == 0) {
        nap(200);
        struct msg m;
        q_rcv(id, &m, 256, 0, 0);
        _exit(0);
    }
    RES("blocking send", send_text(id, 2, "ninth", 0));
    waitpid(c, NULL, 0);
    recv_show("recv after blocked send", id, 256, 0, IPC_NOWAIT);

    /* EINTR: a handler (with SA_RESTART: System V IPC calls are not restarted). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    recv_show("recv interrupted", id, 256, 99, 0);
    OUT("handler ran: %d\n", (int)handled);

    /* IPC_RMID ends a blocked receiver with EIDRM. */
    c = fork();
    if (c == 0) {
        recv_show("child blocked recv", id, 256, 42, 0);
        _exit(0);
    }
    nap(300);
    r = q_ctl(id, IPC_RMID, NULL);
    int e = errno;
    waitpid(c, NULL, 0); /* the child's line first, whoever wins the race */
    errno = e;
    RES("IPC_RMID", r);
    RES("IPC_STAT removed", q_ctl(id, IPC_STAT, &ds));
    RES("send removed", send_text(id, 1, "x", 0));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: prog script|put|get|eintr|wait1 KEY ...\n");
        return 2;
    }
    key_t key = (key_t)strtol(argv[2], NULL, 0);
    if (!strcmp(argv[1], "script"))
        return script(key);
    int id = q_get(key, IPC_CREAT | 0600);
    if (id < 0) {
        OUT("msgget: %s\n", ename(errno));
        return 1;
    }
    if (!strcmp(argv[1], "put")) {
        for (int i = 3; i < argc; i++)
            if (send_text(id, 1, argv[i], 0) < 0) {
                OUT("send: %s\n", ename(errno));
                return 1;
            }
        return 0;
    }
    int n = argc > 3 ? atoi(argv[3]) : 1;
    if (!strcmp(argv[1], "slowput")) {
        long ms = argc > 4 ? atol(argv[4]) : 1;
        for (int i = 1; i <= n; i++) {
            char t[32];
            snprintf(t, sizeof t, "m%d", i);
            if (send_text(id, 1, t, 0) < 0) {
                OUT("send: %s\n", ename(errno));
                return 1;
            }
            nap(ms);
        }
        return 0;
    }
    if (!strcmp(argv[1], "eintr")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGUSR1, &sa, NULL);
    }
    int eintr = 0;
    for (int i = 0; i < n;) {
        struct msg m;
        long r = q_rcv(id, &m, sizeof m.mtext, 0, 0);
        if (r < 0 && errno == EINTR) {
            eintr++;
            continue;
        }
        if (r < 0) {
            OUT("recv: %s\n", ename(errno));
            return 1;
        }
        OUT("%.*s\n", (int)r, m.mtext);
        i++;
    }
    if (!strcmp(argv[1], "eintr"))
        fprintf(stderr, "eintr: %d EINTR, %d handlers\n", eintr, (int)handled);
    return 0;
}
