/* Issue 13, test 2: a process, a child or a thread that changes its IPC namespace through
 * glibc (unshare(CLONE_NEWIPC), setns(fd, CLONE_NEWIPC), clone(CLONE_NEWIPC)) sees that
 * namespace's queues on its next call, not its parent's; setns back finds the first
 * namespace's queues again. Run as root in a fresh namespace (`unshare -i`); natively and
 * under the shim the lines must be identical.
 *
 * NSTEST_BREAK=1 in the environment skips the namespace changes (the calls are not made):
 * the output then differs from a correct run, which shows the comparison can fail.
 *
 * Build: cc -O2 -pthread -o change change.c
 */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#define K1 0x13000101 /* made in the first namespace */
#define K2 0x13000102 /* made in a second namespace */
#define K3 0x13000103 /* made by a thread in its own namespace */

static int broken;

static int do_unshare(void)
{
    return broken ? 0 : unshare(CLONE_NEWIPC);
}

static int do_setns(int fd)
{
    return broken ? 0 : setns(fd, CLONE_NEWIPC);
}

/* What this caller sees of keys K1, K2, K3 and the namespace's totals, on one line. */
static void look(const char *who)
{
    char b[160];
    info_line(b, sizeof b);
    say("%s: K1 %s", who, R(msgget(K1, 0)));
    say(", K2 %s", R(msgget(K2, 0)));
    say(", K3 %s, %s, /proc queues %d\n", R(msgget(K3, 0)), b, proc_queue_lines());
}

static void receive(const char *who, int key)
{
    char b[600];
    int id = msgget(key, 0);
    if (id < 0) {
        say("%s: receive from 0x%x: msgget -1 %s\n", who, key, ename(errno));
        return;
    }
    rcv_text(id, 0, b, sizeof b);
    say("%s: receive from 0x%x: %s\n", who, key, b);
}

static int open_ns(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        say("open %s: %s\n", path, ename(errno));
        exit(2);
    }
    return fd;
}

static void sync_wait(int fd)
{
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR) {}
}

static void sync_post(int fd)
{
    while (write(fd, "x", 1) < 0 && errno == EINTR) {}
}

/* --- 1. unshare in the process itself, then setns back and forth ------------------- */
static void part_unshare(void)
{
    int first = open_ns("/proc/self/ns/ipc");
    look("unshare: before");
    say("unshare: unshare(CLONE_NEWIPC) = %s\n", R(do_unshare()));
    look("unshare: in the new namespace");
    int id = msgget(K2, IPC_CREAT | 0600);
    say("unshare: msgget(K2, IPC_CREAT) = %s\n", res(id, errno));
    say("unshare: send to K2: %s\n", ename(snd_text(id, 2, "in the second namespace", 0)));
    look("unshare: after creating K2");
    int second = open_ns("/proc/self/ns/ipc");
    say("unshare: setns(first) = %s\n", R(do_setns(first)));
    look("unshare: back in the first namespace");
    receive("unshare: first namespace", K1);
    say("unshare: setns(second) = %s\n", R(do_setns(second)));
    look("unshare: in the second namespace again");
    receive("unshare: second namespace", K2);
    say("unshare: setns(first) = %s\n", R(do_setns(first)));
    close(second);
    close(first);
    /* The second namespace has no user left: it is gone with its queue. A new one must be
     * empty again, even if the kernel hands out the same inode number. */
    usleep(300 * 1000);
    first = open_ns("/proc/self/ns/ipc");
    say("unshare: unshare again = %s\n", R(do_unshare()));
    look("unshare: in a third namespace");
    say("unshare: msgget(IPC_PRIVATE) in the third = %s\n", R(msgget(IPC_PRIVATE, 0600)));
    say("unshare: setns(first) = %s\n", R(do_setns(first)));
    close(first);
    look("unshare: first namespace at the end");
}

/* --- 2. a forked child unshares; its own children follow it ------------------------ */
static void part_fork(void)
{
    pid_t p = fork();
    if (p == 0) {
        look("fork: child before unshare");
        say("fork: child unshare = %s\n", R(do_unshare()));
        look("fork: child after unshare");
        say("fork: child msgget(K2, IPC_CREAT) = %s\n", R(msgget(K2, IPC_CREAT | 0600)));
        pid_t g = fork();
        if (g == 0) {
            look("fork: grandchild");
            _exit(0);
        }
        waitpid(g, NULL, 0);
        /* exec: a new program (a new shim instance) in the child's namespace */
        execl("/proc/self/exe", "change", "--look", "fork: exec'd child", (char *)NULL);
        say("fork: exec failed: %s\n", ename(errno));
        _exit(1);
    }
    int st;
    waitpid(p, &st, 0);
    look("fork: parent after the child");
}

/* --- 3. clone(CLONE_NEWIPC) through glibc's clone() ------------------------------- */
static int clone_child(void *arg)
{
    (void)arg;
    look("clone: child");
    say("clone: child msgget(K3, IPC_CREAT) = %s\n", R(msgget(K3, IPC_CREAT | 0600)));
    say("clone: child send to K3: %s\n",
        ename(snd_text(msgget(K3, 0), 3, "in the clone's namespace", 0)));
    look("clone: child after creating K3");
    return 0;
}

static void part_clone(void)
{
    size_t sz = 256 * 1024;
    char *stack = malloc(sz);
    int flags = SIGCHLD | (broken ? 0 : CLONE_NEWIPC);
    pid_t p = clone(clone_child, stack + sz, flags, NULL);
    if (p < 0) {
        say("clone: clone -1 %s\n", ename(errno));
        free(stack);
        return;
    }
    waitpid(p, NULL, 0);
    free(stack);
    look("clone: parent after the child");
}

/* --- 4. setns into another process's namespace (/proc/PID/ns/ipc) ------------------ */
static void part_setns_other(void)
{
    int up[2], down[2];
    if (pipe(up) || pipe(down))
        exit(2);
    pid_t p = fork();
    if (p == 0) {
        close(up[0]);
        close(down[1]);
        do_unshare();
        int id = msgget(K2, IPC_CREAT | 0600);
        snd_text(id, 4, "from the other process's namespace", 0);
        sync_post(up[1]);
        sync_wait(down[0]); /* until the parent is done */
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    sync_wait(up[0]);
    int first = open_ns("/proc/self/ns/ipc");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/ipc", (int)p);
    int other = open_ns(path);
    say("setns-other: setns(/proc/PID/ns/ipc) = %s\n", R(do_setns(other)));
    look("setns-other: in the other namespace");
    receive("setns-other: other namespace", K2);
    say("setns-other: setns(first) = %s\n", R(do_setns(first)));
    look("setns-other: back");
    close(other);
    close(first);
    sync_post(down[1]);
    waitpid(p, NULL, 0);
    close(up[0]);
    close(down[1]);
}

/* --- 5. threads: the namespace belongs to a thread ------------------------------- */
static int t_up[2], t_down[2], o_up[2], o_down[2];

static void *unsharing_thread(void *arg)
{
    (void)arg;
    look("thread A: before unshare");
    say("thread A: unshare = %s\n", R(do_unshare()));
    look("thread A: after unshare");
    say("thread A: msgget(K3, IPC_CREAT) = %s\n", R(msgget(K3, IPC_CREAT | 0600)));
    sync_post(t_up[1]);
    sync_wait(t_down[0]); /* main and thread B look meanwhile */
    look("thread A: at the end");
    return NULL;
}

static void *other_thread(void *arg)
{
    (void)arg;
    sync_wait(o_down[0]);
    look("thread B: while A is in its namespace");
    sync_post(o_up[1]);
    return NULL;
}

static void part_threads(void)
{
    if (pipe(t_up) || pipe(t_down) || pipe(o_up) || pipe(o_down))
        exit(2);
    pthread_t a, b;
    pthread_create(&b, NULL, other_thread, NULL);
    look("threads: main before");
    pthread_create(&a, NULL, unsharing_thread, NULL);
    sync_wait(t_up[0]);
    look("threads: main while A is in its namespace");
    sync_post(o_down[1]);
    sync_wait(o_up[0]);
    sync_post(t_down[1]);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    look("threads: main at the end");
}

int main(int argc, char **argv)
{
    broken = getenv("NSTEST_BREAK") && *getenv("NSTEST_BREAK") == '1';
    if (argc == 3 && strcmp(argv[1], "--look") == 0) {
        look(argv[2]);
        return 0;
    }
    const char *only = argc > 1 ? argv[1] : "";
    int id = msgget(K1, IPC_CREAT | 0600);
    say("main: msgget(K1, IPC_CREAT) = %s\n", res(id, errno));
    say("main: send to K1: %s\n", ename(snd_text(id, 1, "in the first namespace", 0)));
    if (!*only || !strcmp(only, "unshare"))
        part_unshare();
    if (!*only || !strcmp(only, "fork"))
        part_fork();
    if (!*only || !strcmp(only, "clone"))
        part_clone();
    if (!*only || !strcmp(only, "setns-other"))
        part_setns_other();
    if (!*only || !strcmp(only, "threads"))
        part_threads();
    look("main: at the end");
    return 0;
}
