/* msgq's C API, scenario by scenario, as a C program built against msgq.h and linked
 * with the msgq library (pkg-config msgq) would use it.
 *
 * Every step prints one line (what was called, what it returned, errno's name) and is
 * checked against what docs/extensions.md says; the transcript holds no ids, pids or
 * times, so the same program's output on two backends can be compared line by line
 * (tests/capi/run.sh on the userspace engine, the guest on the kernel module).
 *
 * Usage: scenarios [native]   (native: only the EOPNOTSUPP checks, for MSGQ_BACKEND=native)
 * Exit status: 0 when every check held, 1 otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <msgq.h>

static int failures;

struct msg {
    long mtype;
    char mtext[64];
};

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case ENOMSG: return "ENOMSG";
    case EIDRM: return "EIDRM";
    case EINTR: return "EINTR";
    case E2BIG: return "E2BIG";
    case EACCES: return "EACCES";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECANCELED: return "ECANCELED";
    case EMSGSIZE: return "EMSGSIZE";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EBUSY: return "EBUSY";
    default: return "E?";
    }
}

/* Prints a step's result and checks it: `want` is the return value, `werr` the errno
 * when it is -1. */
static void step(const char *what, long got, int err, long want, int werr)
{
    int ok = got == want && (got != -1 || err == werr);
    printf("%-44s %ld %s%s\n", what, got, got == -1 ? ename(err) : "",
           ok ? "" : "   <-- WRONG");
    if (!ok) {
        printf("    expected %ld %s\n", want, want == -1 ? ename(werr) : "");
        failures++;
    }
    fflush(stdout);
}

#define STEP(what, call, want, werr)                 \
    do {                                             \
        errno = 0;                                   \
        long r_ = (long)(call);                      \
        step(what, r_, errno, (long)(want), (werr)); \
    } while (0)

static struct timespec in_ms(clockid_t c, long ms)
{
    struct timespec t;
    clock_gettime(c, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static long snd(int q, long type, const char *text, int flg)
{
    struct msg m = {.mtype = type};
    strncpy(m.mtext, text, sizeof m.mtext - 1);
    return msgq_timedsnd(q, &m, strlen(text), flg, CLOCK_MONOTONIC, NULL);
}

/* Receives and returns the type, with the text in `out` (NULL: not kept). */
static long rcv(int q, long type, int flg, char *out)
{
    struct msg m;
    memset(&m, 0, sizeof m);
    long n = msgq_timedrcv(q, &m, sizeof m.mtext, type, flg, CLOCK_MONOTONIC, NULL);
    if (n < 0)
        return n;
    if (out) {
        memcpy(out, m.mtext, n);
        out[n] = 0;
    }
    return m.mtype;
}

static long qnum(int q)
{
    struct msqid_ds ds;
    if (msgctl(q, IPC_STAT, &ds) < 0)
        return -1;
    return (long)ds.msg_qnum;
}

static void set_qbytes(int q, unsigned long n)
{
    struct msqid_ds ds;
    msgctl(q, IPC_STAT, &ds);
    ds.msg_qbytes = n;
    if (msgctl(q, IPC_SET, &ds) < 0) {
        perror("IPC_SET");
        exit(2);
    }
}

/* A blocked call in its own thread. */
struct blocked {
    pthread_t th;
    pid_t tid;
    volatile int started;
    int q, flg, send;
    long type;
    long ret;
    int err;
    char text[65];
};

static void *blocked_main(void *p)
{
    struct blocked *b = p;
    b->tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    errno = 0;
    if (b->send)
        b->ret = snd(b->q, b->type, "sent", b->flg);
    else
        b->ret = rcv(b->q, b->type, b->flg, b->text);
    b->err = errno;
    return NULL;
}

/* Whether thread `tid` sleeps (state S in /proc). */
static int sleeping(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'S';
}

/* Waits until a thread that said it started sleeps (three readings in a row, 10 ms
 * apart). */
static void until_asleep(volatile int *started, const pid_t *tid)
{
    while (!__atomic_load_n(started, __ATOMIC_SEQ_CST))
        usleep(1000);
    for (int seen = 0, i = 0; seen < 3 && i < 3000; i++) {
        usleep(10000);
        seen = sleeping(*tid) ? seen + 1 : 0;
    }
}

/* Starts a blocked call and waits until its thread sleeps in it. */
static void start(struct blocked *b, int q, int send, long type, int flg)
{
    memset(b, 0, sizeof *b);
    b->q = q;
    b->send = send;
    b->type = type;
    b->flg = flg;
    pthread_create(&b->th, NULL, blocked_main, b);
    until_asleep(&b->started, &b->tid);
}

static void finish(struct blocked *b, const char *what, long want, int werr)
{
    pthread_join(b->th, NULL);
    step(what, b->ret, b->err, want, werr);
}

static void on_usr1(int sig) { (void)sig; }

static int newq(void)
{
    int q = msgget(IPC_PRIVATE, 0600);
    if (q < 0) {
        perror("msgget");
        exit(2);
    }
    return q;
}

static void timeouts(void)
{
    puts("== timeouts");
    int q = newq();
    struct msg m;
    struct timespec t = in_ms(CLOCK_MONOTONIC, 50);
    STEP("timedrcv empty, monotonic +50ms", msgq_timedrcv(q, &m, 8, 0, 0, CLOCK_MONOTONIC, &t),
         -1, ETIMEDOUT);
    t = in_ms(CLOCK_REALTIME, 50);
    STEP("timedrcv empty, realtime +50ms", msgq_timedrcv(q, &m, 8, 0, 0, CLOCK_REALTIME, &t),
         -1, ETIMEDOUT);
    t = in_ms(CLOCK_MONOTONIC, 0);
    STEP("timedrcv empty, bad clock", msgq_timedrcv(q, &m, 8, 0, 0, 77, &t), -1, EINVAL);
    t.tv_nsec = 1000000000L;
    STEP("timedrcv, tv_nsec 1e9", msgq_timedrcv(q, &m, 8, 0, 0, CLOCK_MONOTONIC, &t), -1,
         EINVAL);
    STEP("timedrcv, abstime unreadable",
         msgq_timedrcv(q, &m, 8, 0, 0, CLOCK_MONOTONIC, (struct timespec *)8), -1, EFAULT);
    struct timespec past = {0, 0};
    STEP("timedrcv empty, deadline passed",
         msgq_timedrcv(q, &m, 8, 0, 0, CLOCK_MONOTONIC, &past), -1, ETIMEDOUT);
    STEP("timedrcv empty, passed + IPC_NOWAIT",
         msgq_timedrcv(q, &m, 8, 0, IPC_NOWAIT, CLOCK_MONOTONIC, &past), -1, ENOMSG);
    m.mtype = 1;
    STEP("timedsnd, deadline passed, room", msgq_timedsnd(q, &m, 4, 0, CLOCK_MONOTONIC, &past),
         0, 0);
    STEP("timedrcv, deadline passed, message",
         msgq_timedrcv(q, &m, 8, 0, 0, CLOCK_MONOTONIC, &past), 4, 0);
    set_qbytes(q, 4);
    STEP("fill", snd(q, 1, "abcd", 0), 0, 0);
    t = in_ms(CLOCK_MONOTONIC, 50);
    STEP("timedsnd full, monotonic +50ms", msgq_timedsnd(q, &m, 1, 0, CLOCK_MONOTONIC, &t), -1,
         ETIMEDOUT);
    STEP("qnum", qnum(q), 1, 0);

    /* Removal during a timed wait: EIDRM. */
    struct blocked b;
    int q2 = newq();
    start(&b, q2, 0, 0, 0);
    STEP("IPC_RMID during a timed-less wait", msgctl(q2, IPC_RMID, NULL), 0, 0);
    finish(&b, "  the receiver", -1, EIDRM);

    /* A signal during a wait: EINTR. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    start(&b, q, 0, 9, 0);
    STEP("signal to a blocked receiver", syscall(SYS_tgkill, getpid(), b.tid, SIGUSR1), 0, 0);
    finish(&b, "  the receiver", -1, EINTR);
    msgctl(q, IPC_RMID, NULL);
}

static void urgent(void)
{
    puts("== urgent");
    int q = newq();
    char t[65];
    snd(q, 1, "a", 0);
    snd(q, 2, "b", 0);
    STEP("urgent type 2", snd(q, 2, "U", MSGQ_URGENT), 0, 0);
    STEP("urgent type 3", snd(q, 3, "V", MSGQ_URGENT), 0, 0);
    STEP("rcv 3|MSG_EXCEPT -> type", rcv(q, 3, MSG_EXCEPT, t), 2, 0);
    STEP("  text is U", t[0] == 'U', 1, 0);
    STEP("rcv 0 -> type", rcv(q, 0, 0, t), 3, 0);
    STEP("rcv 2 -> text b", rcv(q, 2, 0, t) == 2 && t[0] == 'b', 1, 0);
    STEP("plain msgsnd ignores MSGQ_URGENT", msgsnd(q, &(struct msg){1, "z"}, 1, MSGQ_URGENT), 0,
         0);
    STEP("rcv 0 -> text a", rcv(q, 0, 0, t) == 1 && t[0] == 'a', 1, 0);
    STEP("rcv 0 -> text z", rcv(q, 0, 0, t) == 1 && t[0] == 'z', 1, 0);
    msgctl(q, IPC_RMID, NULL);
}

static void overwrite(void)
{
    puts("== overwrite");
    int q = newq();
    set_qbytes(q, 10);
    snd(q, 1, "aaaa", 0);
    snd(q, 2, "bbbb", 0);
    STEP("overwrite 4 bytes into 8/10", snd(q, 3, "cccc", MSGQ_OVERWRITE), 1, 0);
    STEP("overwrite 10 bytes", snd(q, 4, "dddddddddd", MSGQ_OVERWRITE), 2, 0);
    STEP("overwrite 11 bytes", snd(q, 4, "eeeeeeeeeee", MSGQ_OVERWRITE), -1, EMSGSIZE);
    STEP("qnum", qnum(q), 1, 0);
    STEP("overwrite|broadcast", snd(q, 4, "e", MSGQ_OVERWRITE | MSGQ_BROADCAST), -1, EINVAL);
    STEP("peek flag on a send", snd(q, 4, "e", MSGQ_PEEK), -1, EINVAL);
    STEP("overwrite, room", snd(q, 5, "", MSGQ_OVERWRITE), 0, 0);
    msgctl(q, IPC_RMID, NULL);
}

static void purge(void)
{
    puts("== purge");
    int q = newq();
    set_qbytes(q, 4);
    for (int i = 0; i < 4; i++)
        snd(q, 1, "x", 0);
    struct blocked s;
    start(&s, q, 1, 7, 0);
    STEP("purge with a blocked sender", msgq_purge(q), 4, 0);
    finish(&s, "  the sender", 0, 0);
    STEP("qnum", qnum(q), 1, 0);
    STEP("purge again", msgq_purge(q), 1, 0);
    STEP("purge an empty queue", msgq_purge(q), 0, 0);
    msgctl(q, IPC_RMID, NULL);
    STEP("purge a removed queue", msgq_purge(q), -1, EINVAL);
}

static void abort_waiters(void)
{
    puts("== abort");
    int q = newq();
    set_qbytes(q, 1);
    snd(q, 1, "x", 0);
    int e = newq();
    struct blocked r[2], s;
    start(&r[0], e, 0, 0, 0);
    start(&r[1], e, 0, 5, 0);
    start(&s, q, 1, 1, 0);
    STEP("abort senders of the empty queue", msgq_abort(e, MSGQ_ABORT_SENDERS), 0, 0);
    STEP("abort receivers", msgq_abort(e, MSGQ_ABORT_RECEIVERS), 2, 0);
    finish(&r[0], "  receiver 0", -1, ECANCELED);
    finish(&r[1], "  receiver 5", -1, ECANCELED);
    STEP("abort both of the full queue", msgq_abort(q, MSGQ_ABORT_RECEIVERS | MSGQ_ABORT_SENDERS),
         1, 0);
    finish(&s, "  the sender", -1, ECANCELED);
    STEP("abort which=0", msgq_abort(q, 0), -1, EINVAL);
    STEP("abort which=4", msgq_abort(q, 4), -1, EINVAL);
    STEP("qnum", qnum(q), 1, 0);
    msgctl(q, IPC_RMID, NULL);
    msgctl(e, IPC_RMID, NULL);
}

static void broadcast(void)
{
    puts("== broadcast");
    int q = newq();
    STEP("broadcast, nobody waits", snd(q, 1, "first", MSGQ_BROADCAST), 0, 0);
    STEP("  queued", qnum(q), 1, 0);
    rcv(q, 0, 0, NULL);
    static const struct {
        long type;
        int flg;
        int gets;
    } sel[] = {{2, 0, 1}, {1, 0, 0}, {0, 0, 1}, {-1, 0, 0}, {-3, 0, 1}, {2, MSG_EXCEPT, 0},
               {5, MSG_EXCEPT, 1}};
    enum { N = sizeof sel / sizeof sel[0] };
    struct blocked b[N];
    for (int i = 0; i < N; i++)
        start(&b[i], q, 0, sel[i].type, sel[i].flg);
    STEP("broadcast type 2 to 7 receivers", snd(q, 2, "all", MSGQ_BROADCAST), 4, 0);
    {
        /* Served last (ext::BROADCAST_ORDER): the one waiting for exactly type 2. */
        struct msqid_ds ds;
        msgctl(q, IPC_STAT, &ds);
        STEP("  lrpid: the type-2 receiver, served last", ds.msg_lrpid == b[0].tid, 1, 0);
    }
    STEP("  not queued", qnum(q), 0, 0);
    STEP("abort the others", msgq_abort(q, MSGQ_ABORT_RECEIVERS), 3, 0);
    for (int i = 0; i < N; i++) {
        char what[64];
        snprintf(what, sizeof what, "  receiver %ld%s", sel[i].type,
                 sel[i].flg ? " EXCEPT" : "");
        if (sel[i].gets)
            finish(&b[i], what, 2, 0);
        else
            finish(&b[i], what, -1, ECANCELED);
    }
    msgctl(q, IPC_RMID, NULL);
}

static void peek(void)
{
    puts("== peek");
    int q = newq();
    char t[65];
    snd(q, 3, "three", 0);
    snd(q, 1, "one", 0);
    STEP("peek -2", rcv(q, -2, MSGQ_PEEK, t), 1, 0);
    STEP("peek 1|EXCEPT", rcv(q, 1, MSGQ_PEEK | MSG_EXCEPT, t), 3, 0);
    STEP("  qnum unchanged", qnum(q), 2, 0);
    struct msg m;
    STEP("peek into 2 bytes", msgq_timedrcv(q, &m, 2, 0, MSGQ_PEEK, CLOCK_MONOTONIC, NULL), -1,
         E2BIG);
    STEP("peek into 2 bytes, NOERROR",
         msgq_timedrcv(q, &m, 2, 0, MSGQ_PEEK | MSG_NOERROR, CLOCK_MONOTONIC, NULL), 2, 0);
    STEP("peek|MSG_COPY", rcv(q, 0, MSGQ_PEEK | MSG_COPY | IPC_NOWAIT, t), -1, EINVAL);
    STEP("urgent flag on a receive", rcv(q, 0, MSGQ_URGENT, t), -1, EINVAL);
    STEP("peek 9 nowait", rcv(q, 9, MSGQ_PEEK | IPC_NOWAIT, t), -1, ENOMSG);
    struct timespec d = in_ms(CLOCK_MONOTONIC, 30);
    STEP("peek 9 +30ms", msgq_timedrcv(q, &m, 8, 9, MSGQ_PEEK, CLOCK_MONOTONIC, &d), -1,
         ETIMEDOUT);
    struct blocked pk, rc;
    start(&pk, q, 0, 9, MSGQ_PEEK);
    start(&rc, q, 0, 9, 0);
    STEP("send 9 to a peeker and a receiver", snd(q, 9, "nine", 0), 0, 0);
    finish(&pk, "  the peeker", 9, 0);
    finish(&rc, "  the receiver", 9, 0);
    STEP("  qnum", qnum(q), 2, 0);
    start(&pk, q, 0, 4, MSGQ_PEEK);
    STEP("send 4 to a peeker alone", snd(q, 4, "four", 0), 0, 0);
    finish(&pk, "  the peeker", 4, 0);
    STEP("  queued", qnum(q), 3, 0);
    msgctl(q, IPC_RMID, NULL);
}

/* A select blocked in its own thread. */
struct selecting {
    pthread_t th;
    pid_t tid;
    volatile int started;
    struct msgq_sel sel[3];
    long ret;
    int err;
};

static void *select_main(void *p)
{
    struct selecting *b = p;
    b->tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    errno = 0;
    b->ret = msgq_select(b->sel, 3, CLOCK_MONOTONIC, NULL);
    b->err = errno;
    return NULL;
}

static void sels(struct msgq_sel *s, const int *q, long type, int flg)
{
    for (int i = 0; i < 3; i++)
        s[i] = (struct msgq_sel){.msqid = q[i], .msgflg = flg, .msgtyp = type};
}

static void select_many(void)
{
    puts("== select");
    int q[3] = {newq(), newq(), newq()};
    struct msgq_sel s[3];
    sels(s, q, 0, 0);
    struct timespec t = in_ms(CLOCK_MONOTONIC, 30);
    STEP("select 3 empty queues +30ms", msgq_select(s, 3, CLOCK_MONOTONIC, &t), -1, ETIMEDOUT);
    STEP("select 0 entries", msgq_select(s, 0, CLOCK_MONOTONIC, NULL), -1, EINVAL);
    STEP("select 129 entries", msgq_select(s, 129, CLOCK_MONOTONIC, NULL), -1, EINVAL);
    STEP("select, bad clock", msgq_select(s, 3, 77, &t), -1, EINVAL);
    snd(q[1], 5, "x", 0);
    STEP("select, a message in the 2nd", msgq_select(s, 3, CLOCK_MONOTONIC, NULL), 1, 0);
    STEP("  ready", s[0].ready * 100 + s[1].ready * 10 + s[2].ready, 10, 0);
    sels(s, q, 5, MSG_EXCEPT);
    t = in_ms(CLOCK_MONOTONIC, 30);
    STEP("select 5|MSG_EXCEPT +30ms", msgq_select(s, 3, CLOCK_MONOTONIC, &t), -1, ETIMEDOUT);
    STEP("  nothing received", qnum(q[1]), 1, 0);
    struct selecting b;
    memset(&b, 0, sizeof b);
    sels(b.sel, q, 7, 0);
    pthread_create(&b.th, NULL, select_main, &b);
    until_asleep(&b.started, &b.tid);
    STEP("abort receivers of the 3rd", msgq_abort(q[2], MSGQ_ABORT_RECEIVERS), 0, 0);
    snd(q[0], 6, "not it", 0);
    STEP("send type 7 to the 3rd", snd(q[2], 7, "it", 0), 0, 0);
    pthread_join(b.th, NULL);
    step("  the blocked select", b.ret, b.err, 1, 0);
    STEP("  ready", b.sel[0].ready * 100 + b.sel[1].ready * 10 + b.sel[2].ready, 1, 0);
    memset(&b, 0, sizeof b);
    sels(b.sel, q, 9, 0);
    pthread_create(&b.th, NULL, select_main, &b);
    until_asleep(&b.started, &b.tid);
    STEP("IPC_RMID the 1st during a select", msgctl(q[0], IPC_RMID, NULL), 0, 0);
    pthread_join(b.th, NULL);
    step("  the blocked select", b.ret, b.err, 1, 0);
    STEP("  the 1st is EIDRM", b.sel[0].ready == -EIDRM && !b.sel[1].ready && !b.sel[2].ready,
         1, 0);
    STEP("select with a removed queue", msgq_select(s, 3, CLOCK_MONOTONIC, NULL), 2, 0);
    STEP("  the 1st is EINVAL", s[0].ready, -EINVAL, 0);
    msgctl(q[1], IPC_RMID, NULL);
    msgctl(q[2], IPC_RMID, NULL);
}

/* Whether fd becomes `want` readable within 5 s (a watch fd of the userspace backend is
 * kept by a thread, which follows the queue a moment later). */
static int becomes(int fd, int want)
{
    for (int i = 0; i < 500; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, want ? 10 : 0);
        if ((r > 0) == want)
            return 1;
        if (!want)
            usleep(10000);
    }
    return 0;
}

static void watch_fd(void)
{
    puts("== watch fd");
    int q = newq();
    STEP("watch fd of a bad queue", msgq_watch_fd(q + 1, 0, 0), -1, EINVAL);
    int fd = msgq_watch_fd(q, 3, 0);
    STEP("watch fd", fd >= 0, 1, 0);
    STEP("  not readable (empty)", becomes(fd, 0), 1, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN}, got;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    snd(q, 2, "other type", 0);
    STEP("  epoll after a send of type 2 (50ms)", epoll_wait(ep, &got, 1, 50), 0, 0);
    snd(q, 3, "three", 0);
    STEP("  epoll after a send of type 3", epoll_wait(ep, &got, 1, 5000), 1, 0);
    STEP("  readable", becomes(fd, 1), 1, 0);
    rcv(q, 3, 0, NULL);
    STEP("  not readable once received", becomes(fd, 0), 1, 0);
    snd(q, 3, "again", 0);
    STEP("  readable again", becomes(fd, 1), 1, 0);
    msgctl(q, IPC_RMID, NULL);
    rcv(q, 0, IPC_NOWAIT, NULL);
    STEP("  readable once the queue is gone", becomes(fd, 1), 1, 0);
    close(ep);
    STEP("close", close(fd), 0, 0);
}

static volatile int thread_notified;
static void on_notify(union sigval v) { __atomic_store_n(&thread_notified, v.sival_int, __ATOMIC_SEQ_CST); }

/* Waits up to `ms` for SIGUSR2 (blocked in every thread); its sival_int, or -1. */
static int notified(int ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    siginfo_t si;
    if (sigtimedwait(&set, &si, &t) != SIGUSR2) {
        errno = 0;
        return -1;
    }
    return si.si_code == SI_MESGQ ? si.si_value.sival_int : -2;
}

static void notify(void)
{
    puts("== notify");
    int q = newq();
    struct sigevent se;
    memset(&se, 0, sizeof se);
    se.sigev_notify = SIGEV_SIGNAL;
    se.sigev_signo = SIGUSR2;
    se.sigev_value.sival_int = 42;
    STEP("notify a bad queue", msgq_notify(q + 1, &se), -1, EINVAL);
    STEP("notify, SIGEV_SIGNAL", msgq_notify(q, &se), 0, 0);
    STEP("notify again", msgq_notify(q, &se), -1, EBUSY);
    STEP("  no signal yet (100ms)", notified(100), -1, 0);
    snd(q, 1, "a", 0);
    STEP("  the signal, with its value", notified(5000), 42, 0);
    STEP("notify once more (one-shot)", msgq_notify(q, &se), 0, 0);
    snd(q, 1, "b", 0);
    STEP("  no signal: the queue was not empty", notified(200), -1, 0);
    rcv(q, 0, 0, NULL);
    rcv(q, 0, 0, NULL);
    usleep(100000);
    snd(q, 1, "c", 0);
    STEP("  the signal once it emptied and refilled", notified(5000), 42, 0);
    rcv(q, 0, 0, NULL);
    STEP("notify then cancel", msgq_notify(q, &se), 0, 0);
    STEP("  cancel", msgq_notify(q, NULL), 0, 0);
    STEP("  cancel again (0, as mq_notify)", msgq_notify(q, NULL), 0, 0);
    snd(q, 1, "d", 0);
    STEP("  no signal after cancel", notified(200), -1, 0);
    rcv(q, 0, 0, NULL);
    se.sigev_notify = SIGEV_THREAD;
    se.sigev_notify_function = on_notify;
    se.sigev_value.sival_int = 7;
    STEP("notify, SIGEV_THREAD", msgq_notify(q, &se), 0, 0);
    snd(q, 1, "e", 0);
    int seen = 0;
    for (int i = 0; i < 500 && !seen; i++) {
        usleep(10000);
        seen = __atomic_load_n(&thread_notified, __ATOMIC_SEQ_CST);
    }
    STEP("  the function ran with its value", seen, 7, 0);
    se.sigev_notify = 99;
    STEP("notify, bad sigev_notify", msgq_notify(q, &se), -1, EINVAL);
    se.sigev_notify = SIGEV_SIGNAL;
    se.sigev_value.sival_int = 42;
    rcv(q, 0, 0, NULL);
    STEP("notify on the empty queue, then it is removed", msgq_notify(q, &se), 0, 0);
    msgctl(q, IPC_RMID, NULL);
    STEP("  no signal: a removal is no arrival", notified(1000), -1, 0);
}

static void native(void)
{
    puts("== native");
    int q = newq();
    struct timespec t = in_ms(CLOCK_MONOTONIC, 10);
    struct msg m = {.mtype = 1};
    STEP("timedsnd plain", msgq_timedsnd(q, &m, 1, 0, CLOCK_MONOTONIC, NULL), 0, 0);
    STEP("timedsnd urgent", msgq_timedsnd(q, &m, 1, MSGQ_URGENT, CLOCK_MONOTONIC, NULL), -1,
         EOPNOTSUPP);
    STEP("timedsnd with a deadline", msgq_timedsnd(q, &m, 1, 0, CLOCK_MONOTONIC, &t), -1,
         EOPNOTSUPP);
    STEP("timedrcv peek", msgq_timedrcv(q, &m, 8, 0, MSGQ_PEEK, CLOCK_MONOTONIC, NULL), -1,
         EOPNOTSUPP);
    STEP("timedrcv plain", msgq_timedrcv(q, &m, 8, 0, 0, CLOCK_MONOTONIC, NULL), 1, 0);
    STEP("purge", msgq_purge(q), -1, EOPNOTSUPP);
    STEP("abort", msgq_abort(q, MSGQ_ABORT_RECEIVERS), -1, EOPNOTSUPP);
    struct msgq_sel s = {.msqid = q};
    STEP("select", msgq_select(&s, 1, CLOCK_MONOTONIC, NULL), -1, EOPNOTSUPP);
    STEP("watch fd", msgq_watch_fd(q, 0, 0), -1, EOPNOTSUPP);
    STEP("notify", msgq_notify(q, NULL), -1, EOPNOTSUPP);
    msgctl(q, IPC_RMID, NULL);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* SIGUSR2 is taken with sigtimedwait (notify): blocked in every thread. */
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);
    if (argc > 1 && strcmp(argv[1], "native") == 0) {
        native();
    } else {
        timeouts();
        urgent();
        overwrite();
        purge();
        abort_waiters();
        broadcast();
        peek();
        select_many();
        watch_fd();
        notify();
    }
    printf("== %d wrong\n", failures);
    return failures ? 1 : 0;
}
