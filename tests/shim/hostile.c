/* Hostile calls to the four message functions, as a careless or malicious C program makes
 * them: NULL, unmapped (PROT_NONE), read-only, misaligned and page-straddling pointers;
 * zero, negative and huge sizes; unknown flag bits and commands, IPC_64, MSG_COPY without
 * IPC_NOWAIT, MSG_EXCEPT, extreme msgtyp values, IPC_PRIVATE and odd keys; the same through
 * syscall() with dirty upper halves; and the shim's other entry points (open, openat,
 * fopen, which look at the path to emulate /proc files) with unreadable, unterminated and
 * overlong paths. Each call prints its result, errno, and a checksum of
 * the buffers (and the received bytes or the stat fields that do not depend on time), so
 * the output on the kernel's queues and on msgq (under LD_PRELOAD) must be identical.
 * The deterministic companion of the shim_calls fuzzer (fuzz/fuzz_targets/shim_calls).
 *
 * Usage: hostile      Build: gcc -O2 -Wall -Wextra -Werror -o hostile hostile.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif
#define IPC_64_FLAG 0x0100
#define PAGE 4096

static unsigned char *rw;    /* three read-write pages */
static unsigned char *ro;    /* one read-only page after them */
static unsigned char *guard; /* one PROT_NONE page after that */

static void fill(unsigned char *p, size_t n, unsigned char seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 13);
}

static uint32_t sum(void)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 3 * PAGE; i++)
        h = (h ^ rw[i]) * 16777619u;
    return h;
}

/* Prints a result and the buffers' checksum. After EFAULT the buffers hold whatever part
 * of the copy preceded the fault (the kernel copies in its own chunks; unspecified, not
 * compared): they are refilled instead. */
static void report(const char *what, long r)
{
    int e = errno;
    printf("%-44s = %ld", what, r);
    if (r == -1)
        printf(" errno %d (%s)", e, strerror(e));
    if (r == -1 && e == EFAULT) {
        fill(rw, 3 * PAGE, 1);
        printf(" buf refilled\n");
        return;
    }
    printf(" buf %08x\n", sum());
}


/* Sends a message of type `type` and `n` bytes at rw+off (mtype written there). */
static long send_at(int id, size_t off, long type, size_t n, int flg)
{
    memcpy(rw + off, &type, sizeof type);
    fill(rw + off + sizeof type, n, (unsigned char)type);
    errno = 0;
    return msgsnd(id, rw + off, n, flg);
}

static void stat_line(int id, int cmd, const char *what)
{
    struct msqid_ds *ds = (struct msqid_ds *)(rw + 2 * PAGE);
    memset(ds, 0x5a, sizeof *ds);
    errno = 0;
    int r = msgctl(id, cmd, ds);
    int e = errno;
    struct msqid_ds got = *ds;
    memset(ds, 0x5a, sizeof *ds); /* the times differ from run to run */
    errno = e;
    report(what, r < 0 ? r : r == id ? 0 : 1);
    if (r >= 0)
        printf("    mode %o qnum %lu cbytes %lu qbytes %lu stime %s rtime %s lspid %s lrpid %s\n",
               got.msg_perm.mode, (unsigned long)got.msg_qnum,
               (unsigned long)got.__msg_cbytes, (unsigned long)got.msg_qbytes,
               got.msg_stime ? "set" : "0", got.msg_rtime ? "set" : "0",
               got.msg_lspid == getpid() ? "self" : "other",
               got.msg_lrpid == 0 ? "0" : got.msg_lrpid == getpid() ? "self" : "other");
}

int main(void)
{
    unsigned char *m = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return perror("mmap"), 2;
    rw = m;
    ro = m + 3 * PAGE;
    guard = m + 4 * PAGE;
    fill(rw, 3 * PAGE, 1);
    for (int i = 0; i < PAGE / 8; i++) {
        long v = i % 5 - 1; /* aligned words -1..3 */
        memcpy(ro + 8 * i, &v, sizeof v);
    }
    /* An unterminated path that runs into the guard page. */
    memcpy(guard - 17, "/proc/sysvipc/msg", 17);
    if (mprotect(ro, PAGE, PROT_READ) || mprotect(guard, PAGE, PROT_NONE))
        return perror("mprotect"), 2;

    const long big[] = { -1, -8, 0x7fffffff, 0x80000000L, 0x7fffffffffffffffL };
    char what[96];

    /* ---- msgget: keys and flags ---- */
    errno = 0;
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    report("msgget(IPC_PRIVATE, CREAT|0600)", q < 0 ? -1 : 0);
    errno = 0;
    int k = msgget(0x484f5354, IPC_CREAT | IPC_EXCL | 0640 | 0x7ff00000);
    report("msgget(key, CREAT|EXCL|0640|junk bits)", k < 0 ? -1 : 0);
    errno = 0;
    report("msgget(key, CREAT|EXCL) again", msgget(0x484f5354, IPC_CREAT | IPC_EXCL));
    errno = 0;
    report("msgget(key, 0) finds it", msgget(0x484f5354, 0) == k ? 0 : -1);
    errno = 0;
    report("msgget(-1 key, 0)", msgget(-1, 0));
    errno = 0;
    report("msgget(key, ~0 flags)", msgget(0x12345, ~0) < 0 ? -1 : 0);
    if (q < 0 || k < 0)
        return 1;

    /* ---- msgsnd: pointers ---- */
    struct { const char *name; void *p; } ptrs[] = {
        { "NULL", NULL },
        { "unmapped (guard page)", guard },
        { "read-only page (mtype 0)", ro + 8 },
        { "read-only page (mtype 1)", ro + 16 },
        { "misaligned rw", rw + 3 },
        { "rw straddling into read-only", ro - 12 },
        { "read-only straddling into guard", guard - 12 },
        { "low address 0x10", (void *)0x10 },
        { "kernel address", (void *)0xffff800000000000UL },
        { "non-canonical", (void *)0x8000000000000000UL },
    };
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) {
        for (size_t n = 0; n <= 64; n += 64) {
            snprintf(what, sizeof what, "msgsnd(%s, %zu)", ptrs[i].name, n);
            if (ptrs[i].p >= (void *)rw && ptrs[i].p < (void *)ro - 8) {
                long t = 2;
                memcpy(ptrs[i].p, &t, sizeof t);
            }
            errno = 0;
            report(what, msgsnd(q, ptrs[i].p, n, IPC_NOWAIT));
        }
    }
    /* ---- msgsnd: sizes, types, flags ---- */
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        snprintf(what, sizeof what, "msgsnd(size %ld)", big[i]);
        report(what, send_at(q, 0, 1, 0, IPC_NOWAIT) < 0 ? -2 : msgsnd(q, rw, (size_t)big[i], IPC_NOWAIT));
    }
    report("msgsnd(size 8193 > msgmax)", msgsnd(q, rw, 8193, IPC_NOWAIT));
    report("msgsnd(size 8192 = msgmax)", send_at(q, 0, 3, 8192, IPC_NOWAIT));
    report("msgsnd(mtype 0)", send_at(q, 8, 0, 4, IPC_NOWAIT));
    report("msgsnd(mtype LONG_MIN)", send_at(q, 8, (long)0x8000000000000000UL, 4, IPC_NOWAIT));
    report("msgsnd(unknown flag bits)", send_at(q, 16, 4, 100, IPC_NOWAIT | 0x7f000000));
    report("msgsnd(-1 id)", send_at(-1, 16, 4, 1, IPC_NOWAIT));
    report("msgsnd(stale id + 32768)", send_at(q + 32768, 16, 4, 1, IPC_NOWAIT));
    report("msgsnd(queue full, NOWAIT)", send_at(q, 0, 5, 8192, IPC_NOWAIT));
    report("msgsnd(queue full, NOWAIT) again", send_at(q, 0, 5, 8192, IPC_NOWAIT));

    /* ---- msgrcv ---- */
    struct { const char *name; long typ; int flg; size_t sz; void *p; } rcv[] = {
        { "NULL buffer", 0, IPC_NOWAIT, 100, NULL },
        { "read-only buffer", 0, IPC_NOWAIT, 100, ro },
        { "unmapped buffer", 0, IPC_NOWAIT, 100, guard },
        { "straddling into read-only", 0, IPC_NOWAIT, 100, ro - 40 },
        { "size -1", 0, IPC_NOWAIT, (size_t)-1, rw },
        { "size LONG_MAX+1", 0, IPC_NOWAIT, (size_t)0x8000000000000000UL, rw },
        { "MSG_COPY without IPC_NOWAIT", 0, MSG_COPY, 100, rw },
        { "MSG_COPY|MSG_EXCEPT", 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT, 100, rw },
        { "MSG_COPY index 1", 1, MSG_COPY | IPC_NOWAIT, 200, rw + 1 },
        { "MSG_COPY index 99", 99, MSG_COPY | IPC_NOWAIT, 200, rw },
        { "MSG_COPY size 0", 0, MSG_COPY | IPC_NOWAIT, 0, rw },
        { "too small (E2BIG)", 4, IPC_NOWAIT, 10, rw },
        { "MSG_NOERROR truncates", 4, IPC_NOWAIT | MSG_NOERROR, 10, rw + 5 },
        { "MSG_EXCEPT type 3", 3, IPC_NOWAIT | MSG_EXCEPT, 8192, rw },
        { "type LONG_MIN", (long)0x8000000000000000UL, IPC_NOWAIT, 8192, rw },
        { "type LONG_MAX", 0x7fffffffffffffffL, IPC_NOWAIT, 8192, rw },
        { "type -2", -2, IPC_NOWAIT, 8192, rw + 7 },
        { "unknown flag bits", 0, IPC_NOWAIT | 0x7f000000, 8192, rw },
        { "any message", 0, IPC_NOWAIT, 8192, rw },
        { "any message, size 0", 0, IPC_NOWAIT, 0, rw },
        { "empty queue", 0, IPC_NOWAIT, 8192, rw + 9 },
    };
    for (size_t i = 0; i < sizeof rcv / sizeof *rcv; i++) {
        snprintf(what, sizeof what, "msgrcv(%s)", rcv[i].name);
        errno = 0;
        report(what, msgrcv(q, rcv[i].p, rcv[i].sz, rcv[i].typ, rcv[i].flg));
    }
    errno = 0;
    report("msgrcv(-1 id)", msgrcv(-1, rw, 10, 0, IPC_NOWAIT));

    /* ---- msgctl ---- */
    stat_line(q, IPC_STAT, "msgctl(IPC_STAT)");
    stat_line(q, IPC_STAT | IPC_64_FLAG, "msgctl(IPC_STAT|IPC_64)");
    stat_line(0, MSG_STAT, "msgctl(0, MSG_STAT)");
    stat_line(0, MSG_STAT_ANY, "msgctl(0, MSG_STAT_ANY)");
    stat_line(1000, MSG_STAT_ANY, "msgctl(1000, MSG_STAT_ANY)");
    int cmds[] = { 4, 5, 10, 14, 15, 0x7fffffff, -1, IPC_INFO | IPC_64_FLAG, IPC_RMID | IPC_64_FLAG };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        snprintf(what, sizeof what, "msgctl(cmd %#x)", cmds[i]);
        errno = 0;
        report(what, msgctl(q, cmds[i], (struct msqid_ds *)rw));
    }
    struct { const char *name; void *p; } bufs[] = {
        { "NULL", NULL }, { "read-only", ro }, { "unmapped", guard },
        { "straddling into read-only", ro - 60 }, { "misaligned", rw + 1 },
    };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
        int c[] = { IPC_STAT, IPC_INFO, MSG_INFO, IPC_SET };
        const char *cn[] = { "IPC_STAT", "IPC_INFO", "MSG_INFO", "IPC_SET" };
        for (int j = 0; j < 4; j++) {
            if (c[j] == IPC_SET && bufs[i].p == rw + 1) {
                struct msqid_ds ds;
                msgctl(q, IPC_STAT, &ds);
                memcpy(rw + 1, &ds, sizeof ds);
            }
            snprintf(what, sizeof what, "msgctl(%s, %s buffer)", cn[j], bufs[i].name);
            errno = 0;
            long r = msgctl(q, c[j], (struct msqid_ds *)bufs[i].p);
            int e = errno;
            if ((c[j] == IPC_STAT || c[j] == IPC_SET) && r == 0 && bufs[i].p == rw + 1)
                fill(rw + 1, sizeof(struct msqid_ds), 9); /* times differ from run to run */
            errno = e;
            report(what, r);
        }
    }
    errno = 0;
    report("msgctl(IPC_SET, bad buffer, -1 id)", msgctl(-1, IPC_SET, (struct msqid_ds *)guard));
    errno = 0;
    report("msgctl(IPC_SET, bad buffer, stale id)", msgctl(q + 32768, IPC_SET, (struct msqid_ds *)guard));

    /* ---- syscall() with dirty upper halves in the int arguments ---- */
    long dirty = 0x5a5a5a5a00000000L;
    long t = 6;
    memcpy(rw + 100, &t, sizeof t);
    errno = 0;
    report("syscall(msgsnd, dirty id/flags)", syscall(SYS_msgsnd, dirty | q, rw + 100, 3L, dirty | IPC_NOWAIT));
    errno = 0;
    report("syscall(msgrcv, dirty, type 6)", syscall(SYS_msgrcv, dirty | q, rw + 200, 50L, 6L, dirty | IPC_NOWAIT));
    errno = 0;
    report("syscall(msgrcv, size -1)", syscall(SYS_msgrcv, (long)q, rw, -1L, 0L, (long)IPC_NOWAIT));
    errno = 0;
    long r = syscall(SYS_msgctl, dirty | q, dirty | IPC_STAT, rw + 2 * PAGE);
    fill(rw + 2 * PAGE, sizeof(struct msqid_ds), 4); /* times differ from run to run */
    report("syscall(msgctl, dirty cmd IPC_STAT)", r);
    errno = 0;
    report("syscall(msgget, dirty key)", syscall(SYS_msgget, dirty | 0x484f5354, dirty) == k ? 0 : -1);

    /* ---- open, openat, fopen: hostile paths ---- */
    static char longpath[6000];
    for (size_t i = 0; i + 4 < sizeof longpath; i += 4)
        memcpy(longpath + i, "/msg", 4);
    struct { const char *name; const char *p; } paths[] = {
        { "NULL", NULL },
        { "unmapped", (const char *)guard },
        { "kernel address", (const char *)0xffff800000000000UL },
        { "non-canonical", (const char *)0x8000000000000000UL },
        { "top of the address space", (const char *)-8L },
        { "unterminated into guard", (const char *)guard - 17 },
        { "longer than PATH_MAX", longpath },
        { "/proc/sysvipc/msg", (const char *)rw + 300 },
        { "/proc/sys/kernel/msgmax", (const char *)rw + 400 },
        { "/proc/sysvipc/msg/ (a directory form)", "/proc/sysvipc/msg/" },
        { "/proc/sys/kernel/msgmax/.", "/proc/sys/kernel/msgmax/." },
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char out[64] = "";
        strcpy((char *)rw + 300, "/proc/sysvipc/msg"); /* again: EFAULT refills the pages */
        strcpy((char *)rw + 400, "/proc/sys/kernel/msgmax");
        snprintf(what, sizeof what, "open(%s)", paths[i].name);
        errno = 0;
        int fd = open(paths[i].p, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = read(fd, out, 16);
            out[n > 0 ? n : 0] = 0;
            close(fd);
        }
        report(what, fd < 0 ? -1 : 0);
        snprintf(what, sizeof what, "openat(AT_FDCWD, %s)", paths[i].name);
        errno = 0;
        fd = openat(AT_FDCWD, paths[i].p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            close(fd);
        report(what, fd < 0 ? -1 : 0);
        snprintf(what, sizeof what, "fopen(%s)", paths[i].name);
        errno = 0;
        FILE *f = fopen(paths[i].p, "r");
        if (f)
            fclose(f);
        report(what, f ? 0 : -1);
        if (i == 7 || i == 8) /* the first 16 bytes: /proc/sysvipc/msg's header, the msgmax value */
            printf("    read: %s%s", out, i == 7 ? "\n" : "");
    }
    errno = 0;
    report("openat(-5, \"msg\")", openat(-5, "msg", O_RDONLY));

    /* ---- a limit file written from bad pointers (the shim applies the write at once) ---- */
    {
        struct { const char *name; const void *p; size_t n; } w[] = {
            { "NULL", NULL, 4 },
            { "unmapped", guard, 4 },
            { "kernel address", (const void *)0xffff800000000000UL, 4 },
            { "straddling into guard", guard - 2, 4 },
        };
        for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
            int fd = open("/proc/sys/kernel/msgmax", O_WRONLY);
            errno = 0;
            long r = fd < 0 ? -2 : write(fd, w[i].p, w[i].n);
            int e = errno;
            if (fd >= 0)
                close(fd);
            errno = e;
            snprintf(what, sizeof what, "write(msgmax, %s, %zu)", w[i].name, w[i].n);
            report(what, r);
        }
        int fd = open("/proc/sys/kernel/msgmax", O_RDONLY);
        char v[32] = "";
        ssize_t n = fd < 0 ? -1 : read(fd, v, sizeof v - 1);
        if (fd >= 0)
            close(fd);
        printf("    msgmax now: %s", n > 0 ? v : "?\n");
    }

    /* ---- limit-file writes parsed as the kernel's proc_dointvec does: C-notation numbers,
     * one value then blanks, separators, length limits, offsets, huge and empty writes;
     * through write() and through stdio; and open flags/paths procfs refuses ---- */
    {
        static char big[5000];
        memset(big, ' ', sizeof big);
        memcpy(big, "123", 3);
        struct { const char *name; const void *p; size_t n; off_t off; } w[] = {
            { "0x10", "0x10", 4, 0 }, { "010", "010", 3, 0 }, { "0x", "0x", 2, 0 },
            { "08", "08", 2, 0 }, { "100 200", "100 200", 7, 0 }, { "5\\n6", "5\n6", 3, 0 },
            { "12\\0", "12\0", 3, 0 }, { "12\\r", "12\r", 3, 0 }, { "blank", " ", 1, 0 },
            { "newline", "\n", 1, 0 }, { "-", "-", 1, 0 }, { "+5", "+5", 2, 0 },
            { "tab 77 nl", " \t 77\n", 6, 0 }, { "20 digits", "00000000000000002000", 20, 0 },
            { "21 digits", "000000000000000002000", 21, 0 }, { "2^31", "2147483648", 10, 0 },
            { "at offset 5", "100", 3, 5 }, { "empty", "", 0, 0 },
            { "empty, kernel address", (const void *)0xffff888000000000UL, 0, 0 },
            { "123 + 4997 blanks", big, sizeof big, 0 },
            { "4 MiB", big, 4u << 20, 0 },
        };
        for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
            int fd = open("/proc/sys/kernel/msgmnb", O_WRONLY);
            if (w[i].off)
                lseek(fd, w[i].off, SEEK_SET);
            errno = 0;
            long r = fd < 0 ? -2 : write(fd, w[i].p, w[i].n);
            int e = errno;
            if (fd >= 0)
                close(fd);
            char v[32] = "";
            fd = open("/proc/sys/kernel/msgmnb", O_RDONLY);
            ssize_t n = fd < 0 ? -1 : read(fd, v, sizeof v - 1);
            if (fd >= 0)
                close(fd);
            v[n > 0 ? strcspn(v, "\n") : 0] = 0;
            errno = e;
            snprintf(what, sizeof what, "write(msgmnb, \"%s\") [now %s]", w[i].name, v);
            report(what, r);
            fd = open("/proc/sys/kernel/msgmnb", O_WRONLY);
            if (fd < 0 || write(fd, "16384", 5) != 5 || close(fd))
                return perror("restore msgmnb"), 2;
        }
        const char *texts[] = { "0x20\n", "77 88\n", "12x\n", " \n" };
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
            FILE *f = fopen("/proc/sys/kernel/msgmnb", "w");
            errno = 0;
            int put = f ? fputs(texts[i], f) : -2;
            int closed = f ? fclose(f) : -2;
            int e = errno;
            char v[32] = "";
            int fd = open("/proc/sys/kernel/msgmnb", O_RDONLY);
            ssize_t n = fd < 0 ? -1 : read(fd, v, sizeof v - 1);
            if (fd >= 0)
                close(fd);
            v[n > 0 ? strcspn(v, "\n") : 0] = 0;
            errno = e;
            snprintf(what, sizeof what, "fputs+fclose(msgmnb, #%zu) put %d [now %s]", i,
                     put >= 0 ? 0 : put, v);
            report(what, closed);
            fd = open("/proc/sys/kernel/msgmnb", O_WRONLY);
            if (fd < 0 || write(fd, "16384", 5) != 5 || close(fd))
                return perror("restore msgmnb"), 2;
        }
        errno = 0;
        int fd = open("/proc/sys/kernel/msgmnb", O_RDONLY | O_DIRECT);
        report("open(msgmnb, O_DIRECT)", fd < 0 ? -1 : 0);
        if (fd >= 0)
            close(fd);
        errno = 0;
        fd = open("/proc/sysvipc/msg/x/../msg", O_RDONLY);
        report("open(/proc/sysvipc/msg/x/../msg)", fd < 0 ? -1 : 0);
        if (fd >= 0)
            close(fd);
    }

    /* ---- msg_next_id naming a taken index: ENOSPC, and the value is used up anyway ---- */
    {
        const char *v = "2147483647";
        int ids2[3];
        for (int i = 0; i < 3; i++) {
            if (i < 2) {
                int fd = open("/proc/sys/kernel/msg_next_id", O_WRONLY);
                if (fd < 0 || write(fd, v, strlen(v)) != (ssize_t)strlen(v) || close(fd))
                    return perror("msg_next_id"), 2;
            }
            errno = 0;
            ids2[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
            snprintf(what, sizeof what, "msgget after msg_next_id=%s #%d", i < 2 ? v : "-", i);
            report(what, ids2[i] < 0 ? -1 : ids2[i] == 0x7fffffff ? 1 : 0);
        }
        for (int i = 0; i < 3; i++)
            if (ids2[i] >= 0)
                msgctl(ids2[i], IPC_RMID, NULL);
    }

    /* ---- remove ---- */
    errno = 0;
    report("msgctl(IPC_RMID, unmapped buffer)", msgctl(q, IPC_RMID, (struct msqid_ds *)guard));
    errno = 0;
    report("msgctl(IPC_RMID) again", msgctl(q, IPC_RMID, NULL));
    errno = 0;
    report("msgctl(key queue, IPC_RMID)", msgctl(k, IPC_RMID, NULL));
    errno = 0;
    report("msgsnd(removed queue)", send_at(q, 0, 1, 1, IPC_NOWAIT));
    return 0;
}
