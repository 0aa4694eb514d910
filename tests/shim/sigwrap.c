/* Signal handlers under the shim (issue 12, defect 3). Prints only what Linux decides, so
 * the kernel's queues and the shim must print the same lines.
 *
 * 1. Query round-trips: sigaction's oldact, signal()'s return value, bsd_signal, ssignal,
 *    sysv_signal, sigset (SIG_HOLD), siginterrupt, show the program's own handler, flags
 *    and mask; an SA_SIGINFO handler gets the right siginfo; SA_RESETHAND resets (also as
 *    seen from inside the handler); SA_NODEFER and sa_mask apply inside the handler;
 *    invalid signals fail with EINVAL; a SIGSEGV handler the program installed before its
 *    first message call still catches a real fault while bad pointers give EFAULT; a
 *    handler change racing a stream of deliveries always runs one of the two handlers with
 *    its own arity.
 * 2. The classic `alarm(1); msgrcv(...)` on an empty queue, and `alarm(1); msgsnd(...)` on a
 *    full one, TRIES times each, with handlers installed by signal(), sigaction(SA_RESTART),
 *    sigaction(SA_SIGINFO|SA_RESTART), sigset() and sysv_signal(): every call must fail with
 *    EINTR (Linux never restarts msgrcv/msgsnd). Meanwhile HAMMERS processes send and
 *    receive in a tight loop on another queue (in the same store under the shim), so the
 *    alarm often lands while the blocked call waits for the store lock, spins or sweeps,
 *    not only inside its FUTEX_WAIT. A call that misses its EINTR waits for ever: a
 *    watchdog kills it and the line says "hung".
 *
 * Usage: sigwrap [TRIES [HAMMERS]]   (defaults 10 and 1)
 * Build: cc -O2 -pthread -o sigwrap sigwrap.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* siginterrupt and sigset are deprecated, and tested here on purpose. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* Not all of these are declared by <signal.h> in every feature set. */
typedef void (*handler_t)(int);
extern handler_t bsd_signal(int, handler_t);
extern handler_t ssignal(int, handler_t);
extern handler_t sysv_signal(int, handler_t);
extern handler_t sigset(int, handler_t);

#define SAY(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

struct msg {
    long mtype;
    char mtext[64];
};

static const char *ename(int e)
{
    switch (e) {
    case 0: return "OK";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case ENOMSG: return "ENOMSG";
    case EIDRM: return "EIDRM";
    case EDEADLK: return "EDEADLK";
    case EIO: return "EIO";
    default: return "E?";
    }
}

/* ---- handlers and what they saw ---- */
static volatile sig_atomic_t h1_sig, h1_runs, h1_self_blocked, h1_mask_usr2;
static volatile sig_atomic_t h2_runs;
static volatile sig_atomic_t hi_runs, hi_signo, hi_code, hi_value, hi_pid_ok, hi_ctx, hi_self_blocked;
static volatile sig_atomic_t reset_seen_inside; /* handler seen from inside: 1 SIG_DFL, 2 other */
static volatile unsigned reset_flags_inside;

static int blocked_now(int sig)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig) == 1;
}

static void h1(int sig)
{
    h1_sig = sig;
    h1_runs++;
    h1_self_blocked = blocked_now(sig);
    h1_mask_usr2 = blocked_now(SIGUSR2);
}

static void h2(int sig)
{
    (void)sig;
    h2_runs++;
}

static void hinfo(int sig, siginfo_t *si, void *ctx)
{
    hi_runs++;
    hi_signo = si->si_signo == sig ? si->si_signo : -1;
    hi_code = si->si_code;
    hi_value = si->si_value.sival_int;
    hi_pid_ok = si->si_pid == getpid();
    hi_ctx = ctx != NULL;
    hi_self_blocked = blocked_now(sig);
}

/* A SA_RESETHAND handler that looks at its own disposition from inside. */
static void hreset(int sig)
{
    struct sigaction o;
    if (sigaction(sig, NULL, &o) == 0) {
        reset_seen_inside = o.sa_handler == SIG_DFL ? 1 : 2;
        reset_flags_inside = (unsigned)o.sa_flags;
    }
}

static const char *hname(handler_t h)
{
    if (h == SIG_DFL) return "SIG_DFL";
    if (h == SIG_IGN) return "SIG_IGN";
    if (h == SIG_HOLD) return "SIG_HOLD";
    if (h == SIG_ERR) return "SIG_ERR";
    if (h == h1) return "h1";
    if (h == h2) return "h2";
    if ((uintptr_t)h == (uintptr_t)hinfo) return "hinfo";
    if (h == hreset) return "hreset";
    return "other";
}

static void show(const char *what, const struct sigaction *sa)
{
    printf("%s: handler=%s flags=%#x mask=", what, hname(sa->sa_handler), (unsigned)sa->sa_flags);
    int any = 0;
    for (int s = 1; s < 65; s++)
        if (sigismember(&sa->sa_mask, s) == 1) {
            printf("%s%d", any ? "," : "", s);
            any = 1;
        }
    printf("%s\n", any ? "" : "-");
    fflush(stdout);
}

static void query(const char *what, int sig)
{
    struct sigaction o;
    memset(&o, 0x5a, sizeof o);
    if (sigaction(sig, NULL, &o) != 0) {
        SAY("%s: query failed %s\n", what, ename(errno));
        return;
    }
    show(what, &o);
}

static void set(int sig, void *h, int flags, int masked1, int masked2, struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = (handler_t)h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (masked1) sigaddset(&sa.sa_mask, masked1);
    if (masked2) sigaddset(&sa.sa_mask, masked2);
    if (old)
        memset(old, 0x5a, sizeof *old);
    if (sigaction(sig, &sa, old) != 0)
        SAY("sigaction(%d) failed: %s\n", sig, ename(errno));
}

/* ---- 1. queries ---- */
static void test_sigaction_queries(void)
{
    struct sigaction old;
    set(SIGUSR1, h1, SA_RESTART | SA_ONSTACK, SIGUSR2, SIGTERM, &old);
    show("sigaction: first install, old", &old);
    query("sigaction: h1 SA_RESTART|SA_ONSTACK mask USR2,TERM", SIGUSR1);
    raise(SIGUSR1);
    SAY("sigaction: h1 ran %d time(s) with sig=%d, itself blocked=%d, USR2 blocked=%d\n",
        (int)h1_runs, (int)h1_sig, (int)h1_self_blocked, (int)h1_mask_usr2);

    set(SIGUSR1, hinfo, SA_SIGINFO | SA_NODEFER, 0, 0, &old);
    show("sigaction: replace by hinfo, old", &old);
    query("sigaction: hinfo SA_SIGINFO|SA_NODEFER", SIGUSR1);
    union sigval v = { .sival_int = 4242 };
    sigqueue(getpid(), SIGUSR1, v);
    SAY("siginfo: ran %d, si_signo=%d si_code_is_SI_QUEUE=%d value=%d pid_ok=%d ctx=%d itself blocked=%d\n",
        (int)hi_runs, (int)hi_signo, hi_code == SI_QUEUE, (int)hi_value, (int)hi_pid_ok,
        (int)hi_ctx, (int)hi_self_blocked);

    /* Back to a one-argument handler: it is called with one argument again. */
    set(SIGUSR1, h1, 0, 0, 0, &old);
    show("sigaction: back to h1, old", &old);
    h1_runs = 0;
    raise(SIGUSR1);
    SAY("sigaction: h1 ran %d time(s), itself blocked=%d\n", (int)h1_runs, (int)h1_self_blocked);

    /* SIG_IGN and SIG_DFL round-trips. */
    set(SIGUSR1, SIG_IGN, 0, 0, 0, &old);
    show("sigaction: SIG_IGN, old", &old);
    raise(SIGUSR1);
    query("sigaction: after SIG_IGN", SIGUSR1);
    set(SIGUSR1, SIG_DFL, SA_RESTART, 0, 0, &old);
    show("sigaction: SIG_DFL, old", &old);
    query("sigaction: after SIG_DFL", SIGUSR1);

    /* oldact only, act == oldact. */
    struct sigaction same;
    memset(&same, 0, sizeof same);
    same.sa_handler = h2;
    same.sa_flags = SA_RESTART;
    sigemptyset(&same.sa_mask);
    int (*sa_fn)(int, const struct sigaction *, struct sigaction *) = sigaction;
    sa_fn(SIGUSR1, &same, &same);
    show("sigaction: act == oldact, old", &same);
    query("sigaction: h2 installed through act == oldact", SIGUSR1);
    set(SIGUSR1, SIG_DFL, 0, 0, 0, NULL);
}

static void test_resethand(void)
{
    struct sigaction old;
    set(SIGUSR2, hreset, SA_RESETHAND, 0, 0, &old);
    query("resethand: installed", SIGUSR2);
    raise(SIGUSR2);
    SAY("resethand: seen from inside the handler: %s flags=%#x\n",
        reset_seen_inside == 1 ? "SIG_DFL" : reset_seen_inside == 2 ? "still a handler" : "no query",
        reset_flags_inside);
    query("resethand: after the delivery", SIGUSR2);
    set(SIGUSR2, hinfo, SA_RESETHAND | SA_SIGINFO | SA_RESTART, 0, 0, &old);
    show("resethand: SA_SIGINFO too, old", &old);
    hi_runs = 0;
    raise(SIGUSR2);
    SAY("resethand: hinfo ran %d, si_signo=%d\n", (int)hi_runs, (int)hi_signo);
    query("resethand: SA_SIGINFO handler after the delivery", SIGUSR2);
    set(SIGUSR2, SIG_IGN, 0, 0, 0, &old);
    show("resethand: SIG_IGN, old", &old);
    set(SIGUSR2, SIG_DFL, 0, 0, 0, NULL);
}

static void test_signal_family(void)
{
    handler_t r = signal(SIGHUP, h1);
    SAY("signal: first -> %s\n", hname(r));
    r = signal(SIGHUP, h2);
    SAY("signal: second -> %s\n", hname(r));
    query("signal: installed", SIGHUP);
    h2_runs = 0;
    raise(SIGHUP);
    SAY("signal: h2 ran %d\n", (int)h2_runs);

    SAY("siginterrupt(SIGHUP, 1) -> %d\n", siginterrupt(SIGHUP, 1));
    query("siginterrupt: on h2", SIGHUP);
    r = signal(SIGHUP, h1);
    SAY("signal after siginterrupt -> %s\n", hname(r));
    query("signal: after siginterrupt(1)", SIGHUP);
    SAY("siginterrupt(SIGHUP, 0) -> %d\n", siginterrupt(SIGHUP, 0));
    r = signal(SIGHUP, h2);
    SAY("signal after siginterrupt(0) -> %s\n", hname(r));
    query("signal: after siginterrupt(0)", SIGHUP);
    signal(SIGHUP, SIG_DFL);

    r = bsd_signal(SIGINT, h1);
    SAY("bsd_signal -> %s\n", hname(r));
    r = ssignal(SIGINT, h2);
    SAY("ssignal -> %s\n", hname(r));
    query("ssignal: installed", SIGINT);
    r = signal(SIGINT, SIG_DFL);
    SAY("signal(SIG_DFL) -> %s\n", hname(r));

    r = sysv_signal(SIGWINCH, h1);
    SAY("sysv_signal -> %s\n", hname(r));
    query("sysv_signal: installed", SIGWINCH);
    h1_runs = 0;
    raise(SIGWINCH);
    SAY("sysv_signal: h1 ran %d, itself blocked=%d\n", (int)h1_runs, (int)h1_self_blocked);
    query("sysv_signal: after the delivery", SIGWINCH);

    r = sigset(SIGPIPE, h1);
    SAY("sigset: install -> %s\n", hname(r));
    query("sigset: installed", SIGPIPE);
    r = sigset(SIGPIPE, SIG_HOLD);
    SAY("sigset: SIG_HOLD -> %s, blocked=%d\n", hname(r), blocked_now(SIGPIPE));
    r = sigset(SIGPIPE, SIG_HOLD);
    SAY("sigset: SIG_HOLD again -> %s\n", hname(r));
    r = sigset(SIGPIPE, h2);
    SAY("sigset: h2 while held -> %s, blocked=%d\n", hname(r), blocked_now(SIGPIPE));
    query("sigset: h2", SIGPIPE);
    r = sigset(SIGPIPE, SIG_DFL);
    SAY("sigset: SIG_DFL -> %s\n", hname(r));
}

static void test_errors(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h1;
    int sigs[] = { 0, SIGKILL, SIGSTOP, 32, 33, 65, -1 };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        errno = 0;
        int r = sigaction(sigs[i], &sa, &old);
        int e1 = r ? errno : 0;
        errno = 0;
        handler_t h = signal(sigs[i], h1);
        int e2 = h == SIG_ERR ? errno : 0;
        errno = 0;
        h = sysv_signal(sigs[i], h1);
        int e3 = h == SIG_ERR ? errno : 0;
        errno = 0;
        h = sigset(sigs[i], h1);
        int e4 = h == SIG_ERR ? errno : 0;
        SAY("errors: signal %d: sigaction %s, signal %s, sysv_signal %s, sigset %s\n", sigs[i],
            ename(e1), ename(e2), ename(e3), ename(e4));
    }
    errno = 0;
    handler_t h = signal(SIGUSR1, SIG_ERR);
    SAY("errors: signal(SIG_ERR) -> %s %s\n", hname(h), ename(errno));
    query("errors: SIGKILL", SIGKILL);
    query("errors: SIGRTMAX never set", SIGRTMAX);
}

/* A fork keeps the handlers (and the shim's table). */
static void test_fork(void)
{
    signal(SIGUSR1, h2);
    pid_t pid = fork();
    if (pid == 0) {
        h2_runs = 0;
        raise(SIGUSR1);
        struct sigaction o;
        sigaction(SIGUSR1, NULL, &o);
        _exit(h2_runs == 1 && o.sa_handler == h2 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    SAY("fork: the child's inherited handler ran and reads back: %s\n",
        WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
    signal(SIGUSR1, SIG_DFL);
}

/* The program's SIGSEGV handler, installed before the first message call (so before the
 * engine's own fault guard under the shim): bad pointers still give EFAULT, and a real
 * fault still reaches it. */
static sigjmp_buf segv_env;
static volatile sig_atomic_t segv_ok;
static void hsegv(int sig, siginfo_t *si, void *ctx)
{
    segv_ok = sig == SIGSEGV && si->si_signo == SIGSEGV && (uintptr_t)si->si_addr == 8 && ctx;
    siglongjmp(segv_env, 1);
}

static void test_segv(void)
{
    struct sigaction old;
    set(SIGSEGV, hsegv, SA_SIGINFO, 0, 0, &old);
    show("segv: program handler, old", &old);
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int e = msgsnd(id, (void *)8, 4, IPC_NOWAIT) == 0 ? 0 : errno;
    SAY("segv: msgsnd from a bad pointer -> %s\n", ename(e));
    struct msg m = { .mtype = 1 };
    msgsnd(id, &m, 4, 0);
    e = msgrcv(id, (void *)8, 16, 0, IPC_NOWAIT) >= 0 ? 0 : errno;
    SAY("segv: msgrcv into a bad pointer -> %s\n", ename(e));
    msgctl(id, IPC_RMID, NULL);
    int caught = 0;
    volatile int *volatile bad = (volatile int *)8;
    if (sigsetjmp(segv_env, 1) == 0)
        *bad = 1;
    else
        caught = 1;
    SAY("segv: a real fault reached the program's handler: %s (siginfo right: %d)\n",
        caught ? "yes" : "no", (int)segv_ok);
    set(SIGSEGV, SIG_DFL, 0, 0, 0, NULL);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* A handler change racing deliveries: one thread flips SIGUSR1 between a one-argument and
 * an SA_SIGINFO handler while a child keeps sending it; every delivery must run one of them,
 * each with its own arguments. */
static volatile sig_atomic_t race_one, race_info, race_bad;
static void race_h1(int sig)
{
    if (sig != SIGUSR1) race_bad++;
    race_one++;
}
static void race_hi(int sig, siginfo_t *si, void *ctx)
{
    if (sig != SIGUSR1 || !si || si->si_signo != SIGUSR1 || !ctx) race_bad++;
    race_info++;
}

static void test_race(void)
{
    struct sigaction a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.sa_handler = race_h1;
    a.sa_flags = SA_RESTART;
    b.sa_sigaction = race_hi;
    b.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&a.sa_mask);
    sigemptyset(&b.sa_mask);
    sigaction(SIGUSR1, &a, NULL);
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            kill(me, SIGUSR1);
    }
    /* At least 20000 changes, and until both handlers have run (at most 10 s). */
    double end = now() + 10.0;
    for (int i = 0; i < 20000 || ((!race_one || !race_info) && now() < end); i++)
        sigaction(SIGUSR1, i & 1 ? &a : &b, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    sigaction(SIGUSR1, &a, NULL);
    signal(SIGUSR1, SIG_DFL);
    SAY("race: deliveries ran a handler with the wrong arguments: %d; both handlers ran: %s\n",
        (int)race_bad, race_one > 0 && race_info > 0 ? "yes" : "no");
}

/* ---- 2. alarm(1) and a blocked call ---- */
enum how { BY_SIGNAL, BY_SIGACTION_RESTART, BY_SIGINFO_RESTART, BY_SIGSET, BY_SYSV_SIGNAL };
static const char *how_name[] = { "signal()", "sigaction(SA_RESTART)",
                                  "sigaction(SA_SIGINFO|SA_RESTART)", "sigset()", "sysv_signal()" };

#define MAXTRIES 64
struct result {
    volatile int tries;   /* calls that returned */
    volatile int handled; /* handler runs */
    int err[MAXTRIES];    /* each call's errno, 0 if it succeeded */
};

static struct result *cur;
static void on_alarm(int sig)
{
    (void)sig;
    cur->handled++;
}
static void on_alarm_info(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (si->si_signo == sig)
        cur->handled++;
}

static void install_alarm(enum how how)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    switch (how) {
    case BY_SIGNAL: signal(SIGALRM, on_alarm); break;
    case BY_SIGACTION_RESTART:
        sa.sa_handler = on_alarm;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        break;
    case BY_SIGINFO_RESTART:
        sa.sa_sigaction = on_alarm_info;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        break;
    case BY_SIGSET: sigset(SIGALRM, on_alarm); break;
    case BY_SYSV_SIGNAL: sysv_signal(SIGALRM, on_alarm); break;
    }
}

static void blocked_calls(enum how how, int sender, int id, int tries, struct result *res)
{
    cur = res;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    install_alarm(how);
    struct msg m = { .mtype = 1 };
    for (int i = 0; i < tries; i++) {
        if (how == BY_SYSV_SIGNAL)
            install_alarm(how); /* reset to SIG_DFL by each delivery */
        alarm(1);
        int r = sender ? msgsnd(id, &m, 1, 0) : (int)msgrcv(id, &m, sizeof m.mtext, 0, 0);
        res->err[i] = r < 0 ? errno : 0;
        res->tries = i + 1;
    }
    _exit(0);
}

static void hammer(int id)
{
    struct msg m = { .mtype = 1 };
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) {
        msgsnd(id, &m, 8, IPC_NOWAIT);
        msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT);
    }
}

static void test_alarm(int tries, int hammers)
{
    struct {
        enum how how;
        int sender;
    } cases[] = {
        { BY_SIGNAL, 0 },           { BY_SIGACTION_RESTART, 0 }, { BY_SIGINFO_RESTART, 0 },
        { BY_SIGSET, 0 },           { BY_SIGNAL, 1 },            { BY_SIGACTION_RESTART, 1 },
        { BY_SYSV_SIGNAL, 1 },
    };
    enum { N = sizeof cases / sizeof cases[0] };
    struct result *res = mmap(NULL, sizeof(struct result) * N, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED) {
        SAY("alarm: mmap failed\n");
        return;
    }
    memset(res, 0, sizeof(struct result) * N);
    int hq = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    pid_t hp[8];
    for (int i = 0; i < hammers; i++) {
        hp[i] = fork();
        if (hp[i] == 0)
            hammer(hq);
    }
    int q[N];
    pid_t pid[N];
    for (int c = 0; c < N; c++) {
        q[c] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (cases[c].sender) {
            struct msqid_ds ds;
            msgctl(q[c], IPC_STAT, &ds);
            ds.msg_qbytes = 8;
            msgctl(q[c], IPC_SET, &ds);
            struct msg m = { .mtype = 1 };
            if (msgsnd(q[c], &m, 8, IPC_NOWAIT) != 0)
                SAY("alarm: cannot fill the queue: %s\n", ename(errno));
        }
        pid[c] = fork();
        if (pid[c] == 0)
            blocked_calls(cases[c].how, cases[c].sender, q[c], tries, &res[c]);
    }
    /* Watchdog: every child needs about `tries` seconds. */
    double deadline = now() + tries * 1.0 + 10.0;
    int left = N, hung[N];
    memset(hung, 0, sizeof hung);
    while (left > 0) {
        for (int c = 0; c < N; c++)
            if (pid[c] > 0 && waitpid(pid[c], NULL, WNOHANG) == pid[c]) {
                pid[c] = 0;
                left--;
            }
        if (left > 0 && now() > deadline) {
            for (int c = 0; c < N; c++)
                if (pid[c] > 0) {
                    kill(pid[c], SIGKILL);
                    waitpid(pid[c], NULL, 0);
                    pid[c] = 0;
                    hung[c] = 1;
                    left--;
                }
        }
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < hammers; i++) {
        kill(hp[i], SIGKILL);
        waitpid(hp[i], NULL, 0);
    }
    for (int c = 0; c < N; c++) {
        struct result *r = &res[c];
        int eintr = 0;
        for (int i = 0; i < r->tries; i++)
            eintr += r->err[i] == EINTR;
        printf("alarm: %s, %s: %d of %d calls gave EINTR, the handler ran %d times", how_name[cases[c].how],
               cases[c].sender ? "msgsnd on a full queue" : "msgrcv on an empty queue", eintr, tries,
               r->handled);
        for (int i = 0; i < r->tries; i++)
            if (r->err[i] != EINTR)
                printf("; call %d: %s", i + 1, ename(r->err[i]));
        if (hung[c])
            printf("; HUNG in call %d (its handler had run: the call went on waiting)", r->tries + 1);
        printf("\n");
        msgctl(q[c], IPC_RMID, NULL);
    }
    fflush(stdout);
    msgctl(hq, IPC_RMID, NULL);
}

int main(int argc, char **argv)
{
    int tries = argc > 1 ? atoi(argv[1]) : 10;
    int hammers = argc > 2 ? atoi(argv[2]) : 1;
    if (tries < 1 || tries > MAXTRIES) tries = 10;
    if (hammers < 0 || hammers > 8) hammers = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_sigaction_queries();
    test_resethand();
    test_signal_family();
    test_errors();
    test_fork();
    test_segv();
    test_race();
    test_alarm(tries, hammers);
    return 0;
}
