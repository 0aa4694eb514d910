/* The shim's own test program: send/receive across fork, with signals, threads, set*id,
 * bad pointers, syscall() and 32-bit-dirty arguments. It prints one line per step, with
 * results that do not depend on ids, pids or times, so its output on native queues and
 * on msgq (under LD_PRELOAD) must be identical. Exit status 0 unless a step could not run.
 *
 * Build: cc -O2 -pthread -o forksig forksig.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
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

struct msg {
    long mtype;
    char mtext[256];
};

static const char *ename(int e)
{
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case EINTR: return "EINTR";
    case E2BIG: return "E2BIG";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOMSG: return "ENOMSG";
    case EIDRM: return "EIDRM";
    case ENOENT: return "ENOENT";
    default: return "E?";
    }
}

#define SAY(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

static int snd(int id, long type, const char *text, int flg)
{
    struct msg m = { .mtype = type };
    size_t n = strlen(text);
    memcpy(m.mtext, text, n);
    return msgsnd(id, &m, n, flg) == 0 ? 0 : errno;
}

static void on_sig(int s) { (void)s; }

static void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* 1. fork: parent and child exchange messages; a signal with SA_RESTART interrupts a
 *    blocked msgrcv (EINTR, never restarted), then the child receives normally. */
static void test_fork_signals(void)
{
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    SAY("fork: msgget %s\n", id >= 0 ? "OK" : ename(errno));
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa = { 0 };
        sa.sa_handler = on_sig;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGUSR1, &sa, NULL);
        struct msg m;
        /* tell the parent we are about to block */
        snd(id, 50, "ready", 0);
        ssize_t r = msgrcv(id, &m, sizeof m.mtext, 99, 0);
        printf("child: blocked msgrcv with SA_RESTART handler -> %s\n", r < 0 ? ename(errno) : "got a message");
        r = msgrcv(id, &m, sizeof m.mtext, 1, 0);
        printf("child: msgrcv type 1 -> %zd '%.*s'\n", r, r > 0 ? (int)r : 0, m.mtext);
        fflush(stdout);
        snd(id, 2, "pong from child", 0);
        msgrcv(id, &m, sizeof m.mtext, 4, 0); /* the parent has printed */
        /* a blocked msgsnd on a full queue is interrupted too */
        struct msqid_ds ds;
        msgctl(id, IPC_STAT, &ds);
        ds.msg_qbytes = 4;
        int e = msgctl(id, IPC_SET, &ds) == 0 ? 0 : errno;
        printf("child: IPC_SET qbytes=4 -> %s\n", ename(e));
        e = snd(id, 3, "abcd", 0);
        printf("child: fill the queue -> %s\n", ename(e));
        fflush(stdout);
        e = snd(id, 3, "x", 0);
        printf("child: blocked msgsnd on a full queue -> %s\n", ename(e));
        fflush(stdout);
        _exit(0);
    }
    struct msg m;
    msgrcv(id, &m, sizeof m.mtext, 50, 0);
    msleep(100);
    kill(pid, SIGUSR1);
    msleep(50);
    snd(id, 1, "ping from parent", 0);
    ssize_t r = msgrcv(id, &m, sizeof m.mtext, 2, 0);
    SAY("parent: msgrcv type 2 -> %zd '%.*s'\n", r, r > 0 ? (int)r : 0, m.mtext);
    snd(id, 4, "ack", 0);
    /* wait until the queue holds the 4-byte message, then interrupt the blocked sender */
    for (int i = 0; i < 200; i++) {
        struct msqid_ds ds;
        if (msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_cbytes == 4)
            break;
        msleep(10);
    }
    msleep(100);
    kill(pid, SIGUSR1);
    int st;
    waitpid(pid, &st, 0);
    SAY("parent: child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    SAY("parent: qnum=%lu cbytes=%lu qbytes=%lu\n", (unsigned long)ds.msg_qnum,
        (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes);
    SAY("parent: IPC_RMID -> %s\n", msgctl(id, IPC_RMID, NULL) == 0 ? "OK" : ename(errno));
}

/* 2. IPC_RMID wakes a blocked receiver in another process with EIDRM. */
static void test_rmid_wakes(void)
{
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    pid_t pid = fork();
    if (pid == 0) {
        struct msg m;
        ssize_t r = msgrcv(id, &m, sizeof m.mtext, 0, 0);
        printf("rmid: child msgrcv -> %s\n", r < 0 ? ename(errno) : "message");
        fflush(stdout);
        _exit(0);
    }
    msleep(150);
    int e = msgctl(id, IPC_RMID, NULL) == 0 ? 0 : errno;
    waitpid(pid, NULL, 0);
    SAY("rmid: parent IPC_RMID -> %s\n", ename(e));
}

/* 3. Several threads blocked at once, each on its own type. */
static int tq;
static void *thr(void *arg)
{
    long t = (long)arg;
    struct msg m;
    ssize_t r = msgrcv(tq, &m, sizeof m.mtext, t, 0);
    char *s = malloc(64);
    snprintf(s, 64, "thread %ld got %zd '%.*s'", t, r, r > 0 ? (int)r : 0, m.mtext);
    return s;
}

static void test_threads(void)
{
    tq = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    pthread_t th[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, thr, (void *)(i + 1));
    msleep(150);
    snd(tq, 3, "three", 0);
    snd(tq, 1, "one", 0);
    snd(tq, 2, "two", 0);
    for (int i = 0; i < 3; i++) {
        char *s;
        pthread_join(th[i], (void **)&s);
        SAY("threads: %s\n", s);
        free(s);
    }
    msgctl(tq, IPC_RMID, NULL);
}

/* 4. Bad pointers give EFAULT, never a crash. */
static void test_efault(void)
{
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int e = msgsnd(id, (void *)8, 4, IPC_NOWAIT) == 0 ? 0 : errno;
    SAY("efault: msgsnd bad pointer -> %s\n", ename(e));
    e = msgctl(id, IPC_STAT, (struct msqid_ds *)8) == 0 ? 0 : errno;
    SAY("efault: IPC_STAT bad buffer -> %s\n", ename(e));
    snd(id, 1, "lost", 0);
    e = msgrcv(id, (void *)8, 16, 0, IPC_NOWAIT) >= 0 ? 0 : errno;
    SAY("efault: msgrcv bad buffer -> %s\n", ename(e));
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    SAY("efault: qnum after a faulting msgrcv = %lu\n", (unsigned long)ds.msg_qnum);
    msgctl(id, IPC_RMID, NULL);
}

/* 5. syscall() for the four calls, with garbage in the upper halves of int arguments. */
static void test_syscall(void)
{
    long dirty = 0x5a5a5a5a00000000L;
    long id = syscall(SYS_msgget, dirty | 0x7777, dirty | IPC_CREAT | 0600);
    SAY("syscall: msgget -> %s\n", id >= 0 ? "OK" : ename(errno));
    struct msg m = { .mtype = 7 };
    memcpy(m.mtext, "via syscall", 11);
    long r = syscall(SYS_msgsnd, dirty | id, &m, 11L, dirty);
    SAY("syscall: msgsnd -> %ld %s\n", r, r ? ename(errno) : "");
    struct msqid_ds ds;
    r = syscall(SYS_msgctl, dirty | id, dirty | IPC_STAT, &ds);
    SAY("syscall: IPC_STAT -> %ld qnum=%lu cbytes=%lu key=%#x\n", r, (unsigned long)ds.msg_qnum,
        (unsigned long)ds.__msg_cbytes, (unsigned)ds.msg_perm.__key);
    memset(&m, 0, sizeof m);
    r = syscall(SYS_msgrcv, dirty | id, &m, 64L, 0L, dirty | IPC_NOWAIT);
    SAY("syscall: msgrcv -> %ld type=%ld '%.*s'\n", r, m.mtype, r > 0 ? (int)r : 0, m.mtext);
    r = syscall(SYS_msgrcv, id, &m, 64L, 0L, IPC_NOWAIT);
    SAY("syscall: msgrcv empty -> %ld %s\n", r, ename(errno));
    r = syscall(SYS_msgctl, id, 0x100 | IPC_STAT, &ds);
    SAY("syscall: IPC_64|IPC_STAT -> %ld %s\n", r, r ? ename(errno) : "");
    r = syscall(SYS_msgctl, id, IPC_RMID, NULL);
    SAY("syscall: IPC_RMID -> %ld\n", r);
    /* other numbers still reach the kernel */
    SAY("syscall: getpid matches -> %s\n", syscall(SYS_getpid) == getpid() ? "yes" : "no");
}

/* 6. seteuid mid-process: permission checks use the current effective uid. */
static void test_setuid(void)
{
    if (geteuid() != 0) {
        SAY("setuid: skipped (not root)\n");
        return;
    }
    int id = msgget(0x5e7, IPC_CREAT | 0600);
    int e = snd(id, 1, "as root", IPC_NOWAIT);
    SAY("setuid: send as root -> %s\n", ename(e));
    if (seteuid(65534) != 0) {
        SAY("setuid: seteuid failed\n");
        return;
    }
    e = snd(id, 1, "as nobody", IPC_NOWAIT);
    SAY("setuid: send as nobody to a 0600 root queue -> %s\n", ename(e));
    e = msgget(0x5e7, 0600) >= 0 ? 0 : errno;
    SAY("setuid: msgget as nobody -> %s\n", ename(e));
    e = msgctl(id, IPC_RMID, NULL) == 0 ? 0 : errno;
    SAY("setuid: IPC_RMID as nobody -> %s\n", ename(e));
    if (seteuid(0) != 0) {
        SAY("setuid: seteuid(0) failed\n");
        return;
    }
    e = snd(id, 1, "root again", IPC_NOWAIT);
    SAY("setuid: send as root again -> %s\n", ename(e));
    msgctl(id, IPC_RMID, NULL);
}

/* 7. fork while other threads are inside msgsnd/msgrcv: every child can still use the
 *    queues (no lock or allocator state of the parent's threads is left held in it). */
static int lq;
static volatile int stop_load;
static void *load(void *arg)
{
    long t = (long)arg;
    struct msg m = { .mtype = t };
    while (!stop_load) {
        msgsnd(lq, &m, 8, IPC_NOWAIT);
        msgrcv(lq, &m, sizeof m.mtext, t, IPC_NOWAIT);
    }
    return NULL;
}

static void test_fork_under_load(void)
{
    lq = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int cq = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    pthread_t th[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, load, (void *)(i + 1));
    int good = 0;
    for (int i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            struct msg m = { .mtype = 1 };
            snprintf(m.mtext, sizeof m.mtext, "child %d", i);
            if (msgsnd(cq, &m, strlen(m.mtext), 0) != 0)
                _exit(1);
            if (msgrcv(lq, &m, sizeof m.mtext, 99, IPC_NOWAIT) >= 0 || errno != ENOMSG)
                _exit(2);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            good++;
    }
    stop_load = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    struct msqid_ds ds;
    msgctl(cq, IPC_STAT, &ds);
    SAY("fork under load: %d of 40 children worked, %lu messages arrived\n", good,
        (unsigned long)ds.msg_qnum);
    msgctl(cq, IPC_RMID, NULL);
    msgctl(lq, IPC_RMID, NULL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_fork_signals();
    test_rmid_wakes();
    test_threads();
    test_efault();
    test_syscall();
    test_setuid();
    test_fork_under_load();
    return 0;
}
