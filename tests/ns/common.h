/* Helpers shared by the issue-13 namespace, user and isolation test programs
 * (the C files of tests/ns). Every program prints one line per step with results that do not
 * depend on times or pids, so its output on the kernel's queues and through the shim
 * (LD_PRELOAD=libmsg_shim.so) can be compared line for line.
 */
#ifndef NS_COMMON_H
#define NS_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
/* Evidence that msgq answered (the runner sets NSTEST_EVIDENCE under the shim only): at
 * exit, each program appends how many shared mappings it has. A process that used msgq has
 * msgq's memory mapped (a store file or an attached segment, whatever the store model);
 * one on the kernel's queues has none. */
static void ns_evidence(void)
{
    const char *path = getenv("NSTEST_EVIDENCE");
    if (!path || !*path)
        return;
    FILE *m = fopen("/proc/self/maps", "r");
    if (!m)
        return;
    char line[1024];
    int shared = 0;
    while (fgets(line, sizeof line, m)) {
        char perms[8];
        if (sscanf(line, "%*x-%*x %7s", perms) == 1 && perms[3] == 's')
            shared++;
    }
    fclose(m);
    char buf[128];
    int n = snprintf(buf, sizeof buf, "pid %d uid %d: shared mappings %d\n", (int)getpid(),
                     (int)getuid(), shared);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, buf, (size_t)n) < 0) {
        }
        close(fd);
    }
}

__attribute__((constructor)) static void ns_evidence_init(void)
{
    atexit(ns_evidence);
}

#endif

struct nsmsg {
    long mtype;
    char mtext[512];
};

/* "OK" or the errno's name (ENOENT, EACCES...). */
static inline const char *ename(int e)
{
    if (e == 0)
        return "OK";
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* One line on stdout, flushed at once (children and exec'd programs share it). */
static inline void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* A call's result: the value, or -1 and the errno's name. Use R(call), which reads errno
 * after the call. */
#define R(call) ({ long r_ = (long)(call); res(r_, errno); })
static inline const char *res(long r, int e)
{
    static __thread char buf[64];
    if (r < 0)
        snprintf(buf, sizeof buf, "-1 %s", ename(e));
    else
        snprintf(buf, sizeof buf, "%ld", r);
    return buf;
}

static inline int snd_text(int id, long type, const char *text, int flg)
{
    struct nsmsg m = { .mtype = type };
    size_t n = strlen(text);
    if (n > sizeof m.mtext)
        n = sizeof m.mtext;
    memcpy(m.mtext, text, n);
    return msgsnd(id, &m, n, flg) == 0 ? 0 : errno;
}

/* msgrcv with IPC_NOWAIT: "type N 'text'" or "-1 ERRNO" in out. */
static inline void rcv_text(int id, long type, char *out, size_t outlen)
{
    struct nsmsg m;
    ssize_t r = msgrcv(id, &m, sizeof m.mtext, type, IPC_NOWAIT);
    if (r < 0)
        snprintf(out, outlen, "-1 %s", ename(errno));
    else
        snprintf(out, outlen, "type %ld '%.*s'", m.mtype, (int)r, m.mtext);
}

/* MSG_INFO: the highest used index and the namespace's totals. */
static inline void info_line(char *out, size_t outlen)
{
    struct msginfo mi;
    memset(&mi, 0, sizeof mi);
    int r = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
    if (r < 0)
        snprintf(out, outlen, "MSG_INFO -1 %s", ename(errno));
    else
        snprintf(out, outlen, "MSG_INFO maxidx=%d queues=%d msgs=%d bytes=%d", r, mi.msgpool,
                 mi.msgmap, mi.msgtql);
}

/* The first line of a file (e.g. /proc/sys/kernel/msgmni), without its newline. */
static inline void read_first_line(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(out, outlen, "open %s", ename(errno));
        return;
    }
    if (!fgets(out, (int)outlen, f))
        snprintf(out, outlen, "read %s", ename(errno));
    out[strcspn(out, "\n")] = 0;
    fclose(f);
}

/* The number of queue lines in /proc/sysvipc/msg (what ipcs -q lists). */
static inline int proc_queue_lines(void)
{
    FILE *f = fopen("/proc/sysvipc/msg", "r");
    if (!f)
        return -errno;
    char line[512];
    int n = -1; /* the header */
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
}

/* Writes a value to a file such as /proc/sys/kernel/msgmax: "OK" or the errno. */
static inline const char *write_value(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return ename(errno);
    int ok = fputs(value, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok ? "OK" : ename(errno);
}

/* Evidence that msgq answered (the runner sets NSTEST_EVIDENCE under the shim only): at
 * exit, each program appends how many shared mappings it has. A process that used msgq has
 * msgq's memory mapped (a store file or an attached segment, whatever the store model);
 * one on the kernel's queues has none. */
static void ns_evidence(void)
{
    const char *path = getenv("NSTEST_EVIDENCE");
    if (!path || !*path)
        return;
    FILE *m = fopen("/proc/self/maps", "r");
    if (!m)
        return;
    char line[1024];
    int shared = 0;
    while (fgets(line, sizeof line, m)) {
        char perms[8];
        if (sscanf(line, "%*x-%*x %7s", perms) == 1 && perms[3] == 's')
            shared++;
    }
    fclose(m);
    char buf[128];
    int n = snprintf(buf, sizeof buf, "pid %d uid %d: shared mappings %d\n", (int)getpid(),
                     (int)getuid(), shared);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, buf, (size_t)n) < 0) {
        }
        close(fd);
    }
}

__attribute__((constructor)) static void ns_evidence_init(void)
{
    atexit(ns_evidence);
}

#endif
