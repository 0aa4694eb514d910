/* IPC namespace changes through glibc (unshare, setns, clone, and syscall() for
 * SYS_unshare/SYS_setns): the next message call uses the new namespace's queues, in the
 * thread that changed and in its children; the other threads and the parent stay where
 * they were. It prints one line per step, with results that do not depend on pids or
 * times, so its output on native queues and under the shim must be identical.
 *
 *   nsfollow          the differential steps (run inside `unshare -i`, as root or in a
 *                     user namespace that owns the IPC namespace)
 *   nsfollow maps     shim only: how many queues' segments this process has mapped after each
 *                     namespace change (a store no thread uses any more is unmapped)
 *
 * Build: cc -O2 -pthread -o nsfollow nsfollow.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define K ((key_t)0x5eed)

struct msg {
    long mtype;
    char mtext[64];
};

static const char *ename(int e)
{
    switch (e) {
    case 0: return "OK";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EEXIST: return "EEXIST";
    case EDEADLK: return "EDEADLK";
    case EIO: return "EIO";
    default: return strerror(e);
    }
}

/* Keeps the calling thread's IPC namespace alive until the program exits: a forked child
 * that waits for the end of a pipe whose write end only the main process keeps. Today's
 * default store is named after the namespace's inode number, which Linux gives to the next
 * new namespace once this one is gone; that namespace would then find this one's store
 * with its queues (docs/design.md, "The store model of issue 13"). Pinning every namespace
 * the program makes keeps its numbers apart. */
static int pin_pipe[2];

static void pin(void)
{
    fflush(stdout);
    if (fork() == 0) {
        char c;
        close(pin_pipe[1]);
        while (read(pin_pipe[0], &c, 1) > 0)
            ;
        _exit(0);
    }
}

/* "K id=N qnum=M" or "K: ERRNO" for the calling thread's namespace. */
static void where(const char *who)
{
    int id = msgget(K, 0);
    if (id < 0) {
        printf("%s: msgget(K, 0) = -1 %s\n", who, ename(errno));
    } else {
        struct msqid_ds ds;
        if (msgctl(id, IPC_STAT, &ds) < 0)
            printf("%s: K id=%d, IPC_STAT %s\n", who, id, ename(errno));
        else
            printf("%s: K id=%d qnum=%lu\n", who, id, (unsigned long)ds.msg_qnum);
    }
    fflush(stdout);
}

/* In a namespace without K: msgget(K, 0) fails, then K is created (its id printed). */
static void fresh(const char *who)
{
    pin();
    where(who);
    int id = msgget(K, IPC_CREAT | 0600);
    printf("%s: created K id=%d (%s)\n", who, id, id < 0 ? ename(errno) : "OK");
    fflush(stdout);
}

static void check(const char *what, int r)
{
    printf("%s: %s\n", what, r < 0 ? ename(errno) : "OK");
    fflush(stdout);
}

static int child_fn(void *arg)
{
    fresh((const char *)arg);
    return 7;
}

static void do_clone(const char *label, int flags)
{
    static char stack[256 * 1024] __attribute__((aligned(16)));
    int pid = clone(child_fn, stack + sizeof stack, flags, (void *)label);
    if (pid < 0) {
        printf("%s: clone %s\n", label, ename(errno));
        return;
    }
    int st = 0;
    waitpid(pid, &st, __WALL);
    printf("%s: child exit %d\n", label, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    fflush(stdout);
}

static int pipe_a[2], pipe_b[2];

static void *thread_fn(void *arg)
{
    (void)arg;
    char c;
    check("thread: unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC));
    fresh("thread");
    if (write(pipe_a[1], "x", 1) != 1 || read(pipe_b[0], &c, 1) != 1)
        return NULL;
    where("thread, after main's call");
    return NULL;
}

/* How many queues' segments this process has attached (a line of /proc/self/maps each;
 * segments of two namespaces may have the same shmid, so the inode column cannot tell them
 * apart). */
static int maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "/SYSV") != NULL;
    fclose(f);
    return n;
}

static void *maps_thread(void *arg)
{
    (void)arg;
    unshare(CLONE_NEWIPC);
    msgget(K, IPC_CREAT | 0600);
    printf("thread in its own namespace: %d segments attached\n", maps());
    fflush(stdout);
    return NULL;
}

static int gate[2], go[2];

/* Unshares, makes a call, tells main, waits until main says go. */
static void *waiting_thread(void *arg)
{
    (void)arg;
    char c;
    unshare(CLONE_NEWIPC);
    msgget(K, IPC_CREAT | 0600);
    if (write(gate[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
        return NULL;
    return NULL;
}

static void *plain_thread(void *arg)
{
    (void)arg;
    msgget(K, 0);
    return NULL;
}

static int maps_mode(void)
{
    pthread_t t;
    msgget(K, IPC_CREAT | 0600);
    printf("start: %d segments attached\n", maps());
    pthread_create(&t, NULL, maps_thread, NULL);
    pthread_join(t, NULL);
    printf("after that thread exited: %d segments attached\n", maps());
    int home = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC);
    unshare(CLONE_NEWIPC);
    printf("unshared, no call yet: %d segments attached\n", maps());
    msgget(K, IPC_CREAT | 0600);
    printf("unshared, after a call: %d segments attached\n", maps());
    setns(home, CLONE_NEWIPC);
    msgget(K, 0);
    printf("back home, after a call: %d segments attached\n", maps());
    for (int i = 0; i < 3; i++) {
        pthread_create(&t, NULL, plain_thread, NULL);
        pthread_join(t, NULL);
    }
    printf("after 3 threads in the same namespace: %d segments attached\n", maps());
    /* fork while another thread uses another namespace's store: the child unmaps it. */
    char c;
    if (pipe(gate) < 0 || pipe(go) < 0 || pthread_create(&t, NULL, waiting_thread, NULL) ||
        read(gate[0], &c, 1) != 1)
        return 1;
    printf("a thread in its own namespace: %d segments attached\n", maps());
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("forked child: %d segments attached\n", maps());
        msgget(K, 0);
        printf("forked child, after a call: %d segments attached\n", maps());
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("parent after the fork: %d segments attached\n", maps());
    if (write(go[1], "x", 1) != 1)
        return 1;
    pthread_join(t, NULL);
    printf("after that thread exited: %d segments attached\n", maps());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "maps") == 0)
        return maps_mode();

    if (pipe2(pin_pipe, O_CLOEXEC) < 0)
        return 1;
    /* Home namespace: a dummy queue first, so K's id (1) tells it from the others (0). */
    struct msg m = {.mtype = 1};
    strcpy(m.mtext, "home");
    int dummy = msgget(IPC_PRIVATE, 0600);
    int k = msgget(K, IPC_CREAT | 0600);
    printf("home: dummy id=%d, K id=%d, send %s\n", dummy, k,
           msgsnd(k, &m, 5, 0) < 0 ? ename(errno) : "OK");
    where("home");
    int home = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC);

    /* unshare in the main thread. */
    check("unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC));
    fresh("unshared");
    int other = open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC);
    int again = msgget(IPC_PRIVATE, 0600);
    printf("unshared: a private queue id=%d\n", again);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        where("unshared, forked child");
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    /* setns back (nstype CLONE_NEWIPC), there again (nstype 0), back (nstype 0). */
    check("setns(home, CLONE_NEWIPC)", setns(home, CLONE_NEWIPC));
    where("home after setns");
    check("setns(other, 0)", setns(other, 0));
    where("other after setns");
    check("setns(home, 0)", setns(home, 0));
    where("home after setns");
    pid = fork();
    if (pid == 0) {
        where("home, forked child");
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    /* clone children in a new namespace; the parent stays. */
    do_clone("clone(CLONE_NEWIPC|SIGCHLD) child", CLONE_NEWIPC | SIGCHLD);
    where("parent after clone");
    do_clone("clone(CLONE_VM|CLONE_VFORK|CLONE_NEWIPC|SIGCHLD) child",
             CLONE_VM | CLONE_VFORK | CLONE_NEWIPC | SIGCHLD);
    where("parent after clone(CLONE_VM)");
    do_clone("clone(SIGCHLD) child", SIGCHLD);
    where("parent after clone(SIGCHLD)");

    /* A thread that unshares; the main thread keeps its namespace meanwhile. */
    pthread_t t;
    char c;
    if (pipe(pipe_a) < 0 || pipe(pipe_b) < 0 || pthread_create(&t, NULL, thread_fn, NULL))
        return 1;
    if (read(pipe_a[0], &c, 1) != 1)
        return 1;
    where("main, thread in its namespace");
    if (write(pipe_b[1], "x", 1) != 1)
        return 1;
    pthread_join(t, NULL);
    where("main after join");

    /* glibc's syscall() for SYS_unshare and SYS_setns, in a forked child. */
    pid = fork();
    if (pid == 0) {
        check("child: syscall(SYS_unshare, CLONE_NEWIPC)", (int)syscall(SYS_unshare, CLONE_NEWIPC));
        fresh("child after syscall(SYS_unshare)");
        check("child: syscall(SYS_setns, home, CLONE_NEWIPC)",
              (int)syscall(SYS_setns, home, CLONE_NEWIPC));
        where("child after syscall(SYS_setns)");
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    /* A failed change changes nothing. */
    check("setns(-1, CLONE_NEWIPC)", setns(-1, CLONE_NEWIPC));
    check("unshare(-1)", unshare(-1));
    where("home at the end");
    struct msg r;
    ssize_t n = msgrcv(k, &r, sizeof r.mtext, 0, IPC_NOWAIT);
    printf("home: received %zd bytes \"%s\"\n", n, n > 0 ? r.mtext : "");
    return 0;
}
