/* Signal handlers that interrupt a blocked msgrcv.
 *
 * `handler`: a signal handler sends a message while the interrupted thread is blocked in
 * msgrcv on the same queue (a common way to wake oneself). On Linux the blocked msgrcv
 * fails with EINTR (SA_RESTART or not) and the handler's message is then there to receive.
 *
 * `handler after`: what follows from Linux running a handler when the system call returns
 * to user space, after msgrcv has decided to fail with EINTR: a handler that clobbers
 * errno does not change the EINTR the program sees; a handler that siglongjmps out of a
 * blocked msgrcv leaves the queue usable; a real-time signal sent twice (sigqueue) while
 * the call is blocked runs its handler twice, in order, with each siginfo.
 *
 * A watchdog process prints HUNG and kills the test if a step hangs.
 *
 * Build: cc -O2 -o handler handler.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

static int q;
static volatile int sent = -2, sent_errno;

static void on_alarm(int s)
{
    (void)s;
    struct {
        long mtype;
        char mtext[4];
    } m = { 5, "sig" };
    sent = msgsnd(q, &m, 3, IPC_NOWAIT);
    sent_errno = sent ? errno : 0;
}

/* ---- handler after ---- */

struct msg {
    long mtype;
    char mtext[16];
};

static void arm(void)
{
    struct itimerval t = { { 0, 0 }, { 0, 200000 } };
    setitimer(ITIMER_REAL, &t, NULL);
}

static void on_alarm_clobber(int s)
{
    (void)s;
    errno = EDOM;
}

static sigjmp_buf jump;
static volatile int jumps;

static void on_alarm_jump(int s)
{
    (void)s;
    jumps++;
    siglongjmp(jump, 1);
}

static volatile int rt_runs, rt_values[4];

static void on_rt(int s, siginfo_t *si, void *ctx)
{
    (void)s;
    (void)ctx;
    if (rt_runs < 4)
        rt_values[rt_runs] = si->si_value.sival_int;
    rt_runs++;
    errno = ENOENT;
}

static void install(int sig, void (*h)(int), void (*hi)(int, siginfo_t *, void *))
{
    struct sigaction sa = { 0 };
    if (hi) {
        sa.sa_sigaction = hi;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
    } else {
        sa.sa_handler = h;
        sa.sa_flags = SA_RESTART;
    }
    sigaction(sig, &sa, NULL);
}

static const char *ename(int e)
{
    switch (e) {
    case EINTR: return "EINTR";
    case EDOM: return "EDOM";
    case ENOENT: return "ENOENT";
    case ENOMSG: return "ENOMSG";
    case EDEADLK: return "EDEADLK";
    case EIO: return "EIO";
    default: return strerror(e);
    }
}

static int after(void)
{
    pid_t parent = getpid();
    pid_t dog = fork();
    if (dog == 0) {
        sleep(20);
        printf("HUNG\n");
        fflush(stdout);
        kill(parent, SIGKILL);
        _exit(1);
    }
    q = msgget(IPC_PRIVATE, 0600 | IPC_CREAT);
    struct msg m = { 0 };

    /* 1. A handler that clobbers errno. */
    install(SIGALRM, on_alarm_clobber, NULL);
    arm();
    ssize_t r = msgrcv(q, &m, sizeof m.mtext, 0, 0);
    int e = errno;
    printf("errno clobbered by the handler: msgrcv %zd %s\n", r, r < 0 ? ename(e) : "");

    /* 2. A handler that siglongjmps out of the blocked msgrcv, twice; then the queue works. */
    install(SIGALRM, on_alarm_jump, NULL);
    for (int i = 0; i < 2; i++) {
        if (sigsetjmp(jump, 1) == 0) {
            arm();
            r = msgrcv(q, &m, sizeof m.mtext, 0, 0);
            printf("siglongjmp: msgrcv returned %zd (%s)\n", r, ename(errno));
        }
    }
    printf("siglongjmp: jumped out %d times\n", jumps);
    struct msg s1 = { 7, "after" };
    int sr = msgsnd(q, &s1, 5, IPC_NOWAIT);
    printf("then msgsnd: %d %s\n", sr, sr ? ename(errno) : "");
    r = msgrcv(q, &m, sizeof m.mtext, 0, 0);
    printf("then blocking msgrcv (message there): %zd type %ld '%.*s'\n", r, m.mtype, r > 0 ? (int)r : 0,
           m.mtext);
    r = msgrcv(q, &m, sizeof m.mtext, 0, IPC_NOWAIT);
    printf("then msgrcv on the empty queue: %zd %s\n", r, r < 0 ? ename(errno) : "");
    pid_t c = fork();
    if (c == 0) {
        usleep(200000);
        struct msg s2 = { 8, "late" };
        _exit(msgsnd(q, &s2, 4, 0) ? 1 : 0);
    }
    r = msgrcv(q, &m, sizeof m.mtext, 0, 0);
    printf("then blocking msgrcv (message sent later): %zd type %ld '%.*s'\n", r, m.mtype,
           r > 0 ? (int)r : 0, m.mtext);
    int st;
    waitpid(c, &st, 0);

    /* 3. A real-time signal sent twice while msgrcv is blocked: the handler runs twice. */
    int rt = SIGRTMIN + 1;
    install(rt, NULL, on_rt);
    c = fork();
    if (c == 0) {
        usleep(200000);
        union sigval v1 = { .sival_int = 1 }, v2 = { .sival_int = 2 };
        sigqueue(parent, rt, v1);
        sigqueue(parent, rt, v2);
        _exit(0);
    }
    r = msgrcv(q, &m, sizeof m.mtext, 0, 0);
    e = errno;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    printf("real-time signal sent twice: msgrcv %zd %s; the handler ran %d times, values %d %d\n", r,
           r < 0 ? ename(e) : "", rt_runs, rt_values[0], rt_values[1]);

    msgctl(q, IPC_RMID, NULL);
    kill(dog, SIGKILL);
    waitpid(dog, &st, 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "after") == 0)
        return after();
    q = msgget(IPC_PRIVATE, 0600 | IPC_CREAT);
    struct sigaction sa = { 0 };
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    struct {
        long mtype;
        char mtext[16];
    } m = { 0 };
    ssize_t r = msgrcv(q, &m, sizeof m.mtext, 0, 0);
    printf("blocked msgrcv: %zd %s\n", r, r < 0 ? strerror(errno) : "");
    printf("msgsnd in the handler: %d %s\n", sent, sent ? strerror(sent_errno) : "");
    r = msgrcv(q, &m, sizeof m.mtext, 0, IPC_NOWAIT);
    printf("then msgrcv: %zd type %ld '%.*s'\n", r, m.mtype, r > 0 ? (int)r : 0, m.mtext);
    msgctl(q, IPC_RMID, NULL);
    return 0;
}
