// Every way a dynamically linked program can look a message function up, each checked to
// reach the same queues (tests/shim/run.sh, case c-symbol-lookups; docs/shim.md, "Every way
// a program can still miss the shim"): the link-time binding, the old symbol version
// (msgget@GLIBC_2.2.5, as a program linked against an older glibc has), dlsym with
// RTLD_DEFAULT, RTLD_NEXT, dlopen(NULL) and libc's own handle (what Python's
// ctypes.CDLL("libc.so.6") does), dlvsym with glibc's version, and syscall() found by
// dlsym in libc. Each route creates, finds, sends to or receives from the one queue the
// others use; the output depends on nothing else, so native queues and msgq print the
// same lines, and a route that bypassed the shim would find no queue (ENOENT) under it.
// A lookup of another function in libc's handle must still give libc's function.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <unistd.h>

__asm__(".symver msgget_v2_2_5, msgget@GLIBC_2.2.5");
__asm__(".symver msgsnd_v2_2_5, msgsnd@GLIBC_2.2.5");
int msgget_v2_2_5(key_t, int);
int msgsnd_v2_2_5(int, const void *, size_t, int);

typedef int (*get_fn)(key_t, int);
typedef int (*snd_fn)(int, const void *, size_t, int);
typedef ssize_t (*rcv_fn)(int, void *, size_t, long, int);
typedef int (*ctl_fn)(int, int, struct msqid_ds *);
typedef long (*syscall_fn)(long, ...);

#define KEY 0x10c4
struct msg { long type; char text[32]; };

static void report(const char *route, long r)
{
    if (r < 0)
        printf("%-44s -> -1 %s\n", route, strerrorname_np(errno));
    else
        printf("%-44s -> ok\n", route);
}

static void route(const char *name, void *h, const char *version)
{
    char what[80];
    get_fn get;
    snd_fn snd;
    rcv_fn rcv;
    ctl_fn ctl;
    if (version) {
        get = (get_fn)dlvsym(h, "msgget", version);
        snd = (snd_fn)dlvsym(h, "msgsnd", version);
        rcv = (rcv_fn)dlvsym(h, "msgrcv", version);
        ctl = (ctl_fn)dlvsym(h, "msgctl", version);
    } else {
        get = (get_fn)dlsym(h, "msgget");
        snd = (snd_fn)dlsym(h, "msgsnd");
        rcv = (rcv_fn)dlsym(h, "msgrcv");
        ctl = (ctl_fn)dlsym(h, "msgctl");
    }
    if (!get || !snd || !rcv || !ctl) {
        printf("%s: lookup failed: %s\n", name, dlerror());
        return;
    }
    int id = get(KEY, 0);
    snprintf(what, sizeof what, "%s: msgget", name);
    report(what, id);
    struct msg m = {.type = 4};
    snprintf(m.text, sizeof m.text, "via %s", name);
    snprintf(what, sizeof what, "%s: msgsnd", name);
    report(what, snd(id, &m, strlen(m.text) + 1, IPC_NOWAIT));
    struct msqid_ds ds;
    snprintf(what, sizeof what, "%s: msgctl IPC_STAT", name);
    report(what, ctl(id, IPC_STAT, &ds));
    printf("%s: qnum %lu\n", name, (unsigned long)ds.msg_qnum);
    memset(&m, 0, sizeof m);
    ssize_t n = rcv(id, &m, sizeof m.text, 4, IPC_NOWAIT);
    snprintf(what, sizeof what, "%s: msgrcv", name);
    report(what, n);
    if (n >= 0)
        printf("%s: got '%s'\n", name, m.text);
}

int main(void)
{
    int id = msgget_v2_2_5(KEY, IPC_CREAT | IPC_EXCL | 0600);
    report("msgget@GLIBC_2.2.5 creates KEY", id);
    report("msgget (link time) finds it", msgget(KEY, 0));
    struct msg m = {.type = 4, .text = "old version"};
    report("msgsnd@GLIBC_2.2.5", msgsnd_v2_2_5(id, &m, 12, IPC_NOWAIT));
    report("msgrcv (link time)", msgrcv(id, &m, sizeof m.text, 4, IPC_NOWAIT));
    printf("got '%s'\n", m.text);

    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *self = dlopen(NULL, RTLD_NOW);
    route("dlsym(RTLD_DEFAULT)", RTLD_DEFAULT, NULL);
    route("dlsym(RTLD_NEXT)", RTLD_NEXT, NULL);
    route("dlsym(dlopen(NULL))", self, NULL);
    route("dlsym(libc.so.6)", libc, NULL);
    route("dlvsym(RTLD_DEFAULT, GLIBC_2.2.5)", RTLD_DEFAULT, "GLIBC_2.2.5");
    route("dlvsym(RTLD_NEXT, GLIBC_2.2.5)", RTLD_NEXT, "GLIBC_2.2.5");

    syscall_fn sc = (syscall_fn)dlsym(libc, "syscall");
    report("dlsym(libc.so.6, syscall)(SYS_msgget)", sc(SYS_msgget, KEY, 0));
    report("dlsym(libc.so.6, getpid) is libc's", dlsym(libc, "getpid") == dlvsym(libc, "getpid", "GLIBC_2.2.5") ? 0 : -1);
    report("dlsym(libc.so.6, missing) is NULL", dlsym(libc, "no_such_function") == NULL ? 0 : -1);
    report("msgctl IPC_RMID", msgctl(id, IPC_RMID, NULL));
    report("dlsym(libc.so.6, msgget) after RMID", ((get_fn)dlsym(libc, "msgget"))(KEY, 0));
    return 0;
}
