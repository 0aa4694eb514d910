/* Issue 13, test 4: a user with no access to a queue under its ipc_perm cannot reach the
 * queue's memory by any means. Generic: it assumes nothing about how msgq stores queues.
 *
 *   isolate drive SCENARIO OWNER_UID ATTACKER_UID     (as root, in a fresh IPC namespace)
 *
 * The driver starts two programs (separate processes, exec'd after dropping privileges):
 *
 * - the owner (OWNER_UID) creates a queue with mode 0600 and leaves a random secret text
 *   queued in it; in SCENARIO "shared" it also creates a queue with mode 0666. It then
 *   lists what it has mapped shared (/proc/self/maps, "s" mappings) and its descriptors,
 *   and waits, holding everything, until the driver is done.
 * - the attacker (ATTACKER_UID, no supplementary groups) enumerates every memory object it
 *   can name: every file in /dev/shm, every SysV segment of the namespace (SHM_INFO +
 *   SHM_STAT_ANY), the owner's shared mappings through /proc/PID/map_files, /proc/PID/mem
 *   and process_vm_readv, the owner's descriptors through /proc/PID/fd, and ptrace. It
 *   tries to open (read-only, read-write, write-only) and map each, shmat each (read-only and
 *   read-write), and scans whatever it gets for the secret. In "shared" it first uses the
 *   0666 queue through the normal calls (under the shim: through msgq, so it gets whatever
 *   memory that needs) and checks that the 0600 queue is refused (EACCES). In "dropped" it
 *   starts as root, creates and uses a 0666 queue of its own, then drops to ATTACKER_UID
 *   in the same process (setresuid, through the shim's wrapper) and attacks as in "shared",
 *   plus every shared mapping it still has (/proc/self/maps): natively a process that
 *   dropped privileges has no access to root's 0600 queue any more.
 *
 * Verdict (one "summary:" line each, then "verdict: ok" or "verdict: BREACH"):
 * - "strict" (the attacker may use no queue): every attempt on an object the attacker does
 *   not own must fail with an errno;
 * - "shared", "dropped": no attempt may show the secret, and no write access may be granted to an
 *   object that holds it. (Objects holding the 0666 queue are legitimately reachable.)
 * - always: the secret must not be seen through any route.
 * Natively there are no msgq objects: the attack finds nothing and passes trivially; the
 * runner therefore also requires that under the shim at least one object was found.
 *
 * NSTEST_PLANT=1 makes the owner also leave the secret in a 0644 file in /dev/shm and in a
 * 0644 SysV segment it keeps attached: the verdict must then be BREACH (the self-test).
 *
 * Build: cc -O2 -o isolate isolate.c
 */
#include "common.h"
#include <dirent.h>
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/shm.h>
#include <sys/uio.h>
#include <sys/wait.h>

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

#define KEY_SECRET 0x13000401
#define KEY_OPEN 0x13000402

static const char *secret;
static long attempts, succeeded, foreign_succeeded, secret_seen, secret_writable;
static long objects; /* objects not the attacker's own */

/* --- scanning ------------------------------------------------------------------------ */

static int scan_buf(const char *p, size_t n)
{
    return memmem(p, n, secret, strlen(secret)) != NULL;
}

/* Whether the file holds the secret: its data extents only (stores are large and sparse). */
static int scan_fd(int fd)
{
    static char buf[1 << 20];
    size_t sl = strlen(secret);
    off_t off = 0, limit = (off_t)1 << 34;
    while (off < limit) {
        off_t d = lseek(fd, off, SEEK_DATA);
        if (d < 0)
            break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0)
            h = d + (off_t)sizeof buf;
        for (off_t o = d; o < h;) {
            ssize_t r = pread(fd, buf, sizeof buf, o);
            if (r <= 0)
                return 0;
            if (scan_buf(buf, (size_t)r))
                return 1;
            if ((size_t)r <= sl)
                break;
            o += r - (ssize_t)sl; /* overlap: a secret across two reads */
        }
        off = h;
    }
    return 0;
}

/* Whether a mapping holds the secret: its resident pages only (touching the rest of a
 * sparse segment would allocate it). */
static int scan_mem(const char *p, size_t len)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg;
    unsigned char *vec = malloc(n);
    if (!vec || mincore((void *)p, len, vec) != 0) {
        free(vec);
        return scan_buf(p, len < (64u << 20) ? len : (64u << 20));
    }
    int found = 0;
    for (size_t i = 0; i < n && !found;) {
        if (!(vec[i] & 1)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && (vec[j] & 1))
            j++;
        size_t end = j * pg < len ? j * pg : len;
        found = scan_buf(p + i * pg, end - i * pg);
        i = j;
    }
    free(vec);
    return found;
}

/* --- recording attempts -------------------------------------------------------------- */

/* One attempt: r < 0 is a refusal with errno e. `own`: the object is the attacker's own.
 * `seen`: the secret was visible through it. `write`: the access granted writing. */
static void attempt(const char *what, const char *obj, int r, int e, int own, int seen,
                    int write)
{
    attempts++;
    if (r < 0) {
        say("attempt %s %s: denied %s\n", what, obj, ename(e));
        return;
    }
    succeeded++;
    if (!own)
        foreign_succeeded++;
    if (seen)
        secret_seen++;
    if (seen && write)
        secret_writable++;
    say("attempt %s %s: SUCCEEDED%s%s%s\n", what, obj, own ? " (own object)" : "",
        seen ? ", SECRET SEEN" : ", no secret", write ? ", writable" : "");
}

/* open(path) with the three access modes; each granted one is mapped and scanned. */
static void try_path(const char *kind, const char *path, int own)
{
    static const struct { int flags; const char *name; } modes[] = {
        { O_RDONLY, "open-rdonly" }, { O_RDWR, "open-rdwr" }, { O_WRONLY, "open-wronly" } };
    for (unsigned i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s %s", kind, modes[i].name);
        int fd = open(path, modes[i].flags | O_CLOEXEC);
        if (fd < 0) {
            attempt(what, path, -1, errno, own, 0, 0);
            continue;
        }
        int seen = modes[i].flags != O_WRONLY && scan_fd(fd);
        attempt(what, path, 0, 0, own, seen, modes[i].flags != O_RDONLY);
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size > 0 && modes[i].flags != O_WRONLY) {
            int prot = PROT_READ | (modes[i].flags == O_RDWR ? PROT_WRITE : 0);
            snprintf(what, sizeof what, "%s mmap-%s", kind, prot & PROT_WRITE ? "rw" : "ro");
            void *m = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
            if (m == MAP_FAILED) {
                attempt(what, path, -1, errno, own, 0, 0);
            } else {
                attempt(what, path, 0, 0, own, scan_mem(m, (size_t)st.st_size),
                        (prot & PROT_WRITE) != 0);
                munmap(m, (size_t)st.st_size);
            }
        }
        close(fd);
    }
}

/* --- the attacker --------------------------------------------------------------------- */

static void attack_shm_files(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d) {
        say("attack: opendir /dev/shm: %s\n", ename(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[512];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        struct stat st;
        int own = lstat(path, &st) == 0 && st.st_uid == getuid();
        if (!own)
            objects++;
        try_path("shm-file", path, own);
    }
    closedir(d);
}

static void attack_sysv(void)
{
    struct shm_info si;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
    for (int i = 0; i <= max; i++) {
        struct shmid_ds ds;
        int id = shmctl(i, SHM_STAT_ANY, &ds);
        if (id < 0)
            continue;
        int own = ds.shm_perm.cuid == getuid() || ds.shm_perm.uid == getuid();
        if (!own)
            objects++;
        char obj[128];
        snprintf(obj, sizeof obj, "shmid %d (key 0x%x cuid %u mode %o size %zu)", id,
                 (unsigned)ds.shm_perm.__key, ds.shm_perm.cuid, ds.shm_perm.mode & 0777,
                 (size_t)ds.shm_segsz);
        for (int rw = 0; rw < 2; rw++) {
            void *p = shmat(id, NULL, rw ? 0 : SHM_RDONLY);
            if (p == (void *)-1) {
                attempt(rw ? "shmat-rw" : "shmat-ro", obj, -1, errno, own, 0, 0);
                continue;
            }
            attempt(rw ? "shmat-rw" : "shmat-ro", obj, 0, 0, own,
                    scan_mem(p, (size_t)ds.shm_segsz), rw);
            shmdt(p);
        }
    }
}

static void attack_process(pid_t pid, int argc, char **argv)
{
    char path[256];
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "map:", 4)) {
            unsigned long start, end;
            if (sscanf(argv[i] + 4, "%lx-%lx", &start, &end) != 2)
                continue;
            objects++;
            snprintf(path, sizeof path, "/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
            try_path("map_files", path, 0);
            /* /proc/PID/mem at the mapping */
            snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
            for (int rw = 0; rw < 2; rw++) {
                int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
                char obj[300];
                snprintf(obj, sizeof obj, "%s @%lx", path, start);
                if (fd < 0) {
                    attempt(rw ? "proc-mem-rdwr" : "proc-mem-rdonly", obj, -1, errno, 0, 0, 0);
                    continue;
                }
                size_t len = end - start < (16u << 20) ? end - start : (16u << 20);
                char *buf = malloc(len);
                ssize_t r = pread(fd, buf, len, (off_t)start);
                attempt(rw ? "proc-mem-rdwr" : "proc-mem-rdonly", obj, r < 0 ? -1 : 0, errno,
                        0, r > 0 && scan_buf(buf, (size_t)r), rw);
                free(buf);
                close(fd);
            }
            /* process_vm_readv */
            static char buf[1 << 16];
            struct iovec l = { buf, sizeof buf };
            struct iovec rem = { (void *)start,
                                 end - start < sizeof buf ? end - start : sizeof buf };
            ssize_t r = process_vm_readv(pid, &l, 1, &rem, 1, 0);
            char obj[64];
            snprintf(obj, sizeof obj, "pid %d @%lx", (int)pid, start);
            attempt("process_vm_readv", obj, r < 0 ? -1 : 0, errno, 0,
                    r > 0 && scan_buf(buf, (size_t)r), 0);
        } else if (!strncmp(argv[i], "fd:", 3)) {
            objects++;
            snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)pid, argv[i] + 3);
            try_path("proc-fd", path, 0);
        }
    }
    char obj[32];
    snprintf(obj, sizeof obj, "pid %d", (int)pid);
    long r = ptrace(PTRACE_SEIZE, pid, 0, 0);
    int e = errno;
    if (r == 0)
        ptrace(PTRACE_DETACH, pid, 0, 0);
    attempt("ptrace-seize", obj, r < 0 ? -1 : 0, e, 0, 0, 1);
}

/* The attacker's own shared mappings: memory it still has after dropping privileges. */
static void attack_own_mappings(void)
{
    FILE *m = fopen("/proc/self/maps", "r");
    char line[1024];
    while (m && fgets(line, sizeof line, m)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3 || perms[3] != 's')
            continue;
        objects++;
        char obj[64];
        snprintf(obj, sizeof obj, "%lx-%lx (%s)", a, b, perms);
        attempt("own-mapping", obj, 0, 0, 0, scan_mem((const char *)a, b - a),
                perms[1] == 'w');
    }
    if (m)
        fclose(m);
}

static int attacker(const char *scenario, pid_t owner, int argc, char **argv)
{
    int shared = !strcmp(scenario, "shared") || !strncmp(scenario, "dropped", 7);
    if (!strncmp(scenario, "dropped", 7)) {
        /* Started as root: use a queue of its own (so the backend starts as root), then
         * drop to the uid after "dropped-" in this very process. */
        int id = msgget(KEY_OPEN, IPC_CREAT | 0666);
        say("use: as root, msgget(own 0666 queue, IPC_CREAT) = %s\n", res(id, errno));
        say("use: as root, send to it = %s\n", ename(snd_text(id, 1, "for anyone", 0)));
        uid_t uid = (uid_t)atoi(scenario + 8);
        if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
            say("drop: %s\n", ename(errno));
            return 2;
        }
        say("use: dropped to uid %u in the same process\n", (unsigned)getuid());
    }
    if (shared) {
        char b[600];
        int id = msgget(KEY_OPEN, 0);
        say("use: msgget(open queue, 0) = %s\n", res(id, errno));
        rcv_text(id, 0, b, sizeof b);
        say("use: receive from the open queue = %s\n", b);
        say("use: send to the open queue = %s\n",
            ename(snd_text(id, 2, "reply from the attacker", IPC_NOWAIT)));
        int sid = msgget(KEY_SECRET, 0);
        say("use: msgget(0600 queue, 0) = %s\n", res(sid, errno));
        say("use: msgget(0600 queue, 0600) = %s\n", R(msgget(KEY_SECRET, 0600)));
        rcv_text(sid, 0, b, sizeof b);
        say("use: receive from the 0600 queue = %s\n", b);
        say("use: send to the 0600 queue = %s\n",
            ename(snd_text(sid, 2, "overwrite", IPC_NOWAIT)));
        struct msqid_ds ds;
        say("use: IPC_STAT of the 0600 queue = %s\n", R(msgctl(sid, IPC_STAT, &ds)));
        say("use: IPC_RMID of the 0600 queue = %s\n", R(msgctl(sid, IPC_RMID, NULL)));
    }
    attack_shm_files();
    attack_sysv();
    attack_process(owner, argc, argv);
    if (!strncmp(scenario, "dropped", 7))
        attack_own_mappings();
    say("summary: objects not the attacker's own: %ld\n", objects);
    say("summary: attempts %ld, succeeded %ld (on others' objects %ld), secret seen %ld, "
        "secret writable %ld\n",
        attempts, succeeded, foreign_succeeded, secret_seen, secret_writable);
    int breach = secret_seen > 0 || secret_writable > 0 || (!shared && foreign_succeeded > 0);
    say("verdict: %s\n", breach ? "BREACH" : "ok");
    return 0;
}

/* --- the owner ------------------------------------------------------------------------ */

static int owner(const char *scenario)
{
    int id = msgget(KEY_SECRET, IPC_CREAT | 0600);
    if (id < 0 || snd_text(id, 1, secret, IPC_NOWAIT) != 0) {
        fprintf(stderr, "owner: queue: %s\n", ename(errno));
        return 2;
    }
    int oid = -1;
    if (!strcmp(scenario, "shared")) { /* ("dropped": the attacker makes it) */
        oid = msgget(KEY_OPEN, IPC_CREAT | 0666);
        snd_text(oid, 1, "for anyone", IPC_NOWAIT);
    }
    char planted[64] = "";
    int pseg = -1;
    if (getenv("NSTEST_PLANT") && *getenv("NSTEST_PLANT") == '1') {
        snprintf(planted, sizeof planted, "/dev/shm/nstest-planted-%d", (int)getpid());
        int fd = open(planted, O_CREAT | O_RDWR | O_TRUNC, 0644);
        if (fd >= 0) {
            fchmod(fd, 0644);
            if (write(fd, secret, strlen(secret)) < 0)
                perror("write");
            close(fd);
        }
        pseg = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0644);
        char *p = shmat(pseg, NULL, 0);
        if (p != (void *)-1)
            strcpy(p, secret);
    }
    /* The plan: shared mappings and descriptors of this process. */
    FILE *m = fopen("/proc/self/maps", "r");
    char line[1024];
    while (m && fgets(line, sizeof line, m)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3 && perms[3] == 's')
            printf("map:%lx-%lx\n", a, b);
    }
    if (m)
        fclose(m);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
            continue;
        char p[256], t[256];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, t, sizeof t - 1);
        t[n > 0 ? n : 0] = 0;
        if (strncmp(t, "pipe:", 5) && strncmp(t, "socket:", 7))
            printf("fd:%d\n", fd);
    }
    if (d)
        closedir(d);
    printf("ready\n");
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    /* clean up what this run made (the namespace's end would take the queues anyway) */
    msgctl(id, IPC_RMID, NULL);
    if (oid >= 0)
        msgctl(oid, IPC_RMID, NULL);
    if (*planted)
        unlink(planted);
    if (pseg >= 0)
        shmctl(pseg, IPC_RMID, NULL);
    return 0;
}

/* --- the driver ------------------------------------------------------------------------ */

static void become(uid_t uid)
{
    if (uid == 0)
        return;
    if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
        fprintf(stderr, "drop to %u: %s\n", uid, ename(errno));
        _exit(2);
    }
}

static int drive(const char *scenario, uid_t ouid, uid_t auid)
{
    char hex[13] = { 0 }, sec[64];
    unsigned char r[6];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return 2;
    for (int i = 0; i < 6; i++)
        sprintf(hex + 2 * i, "%02x", r[i]);
    /* built at run time: the secret is in no file and no binary */
    snprintf(sec, sizeof sec, "nstest-secret-%s-%s", hex, "queued-in-a-0600-queue");

    int to_owner[2], from_owner[2];
    if (pipe2(to_owner, O_CLOEXEC) || pipe2(from_owner, O_CLOEXEC))
        return 2;
    pid_t o = fork();
    if (o == 0) {
        dup2(to_owner[0], 0);
        dup2(from_owner[1], 1);
        close_range(3, ~0U, 0); /* nothing inherited is mistaken for msgq's */
        become(ouid);
        execl("/proc/self/exe", "isolate", "owner", scenario, sec, (char *)NULL);
        _exit(2);
    }
    close(to_owner[0]);
    close(from_owner[1]);
    FILE *f = fdopen(from_owner[0], "r");
    char *args[64];
    int n = 0;
    char pidbuf[16];
    snprintf(pidbuf, sizeof pidbuf, "%d", (int)o);
    args[n++] = "isolate";
    args[n++] = "attack";
    args[n++] = (char *)scenario;
    args[n++] = sec;
    args[n++] = pidbuf;
    char line[256];
    int ready = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strcmp(line, "ready")) {
            ready = 1;
            break;
        }
        if (n < 62)
            args[n++] = strdup(line);
    }
    args[n] = NULL;
    if (!ready) {
        say("driver: the owner did not get ready\n");
        return 2;
    }
    say("driver: owner uid %u, attacker uid %u, scenario %s\n", ouid, auid, scenario);
    char dropped[32];
    if (!strcmp(scenario, "dropped")) { /* tell the attacker its uid */
        snprintf(dropped, sizeof dropped, "dropped-%u", (unsigned)auid);
        args[2] = dropped;
    }
    pid_t a = fork();
    if (a == 0) {
        close_range(3, ~0U, 0);
        if (strncmp(scenario, "dropped", 7) != 0)
            become(auid); /* "dropped": the attacker drops itself, after a message call */
        if (!strcmp(scenario, "strict"))
            unsetenv("LD_PRELOAD"); /* the attacker makes no message call at all */
        execv("/proc/self/exe", args);
        _exit(2);
    }
    int st;
    waitpid(a, &st, 0);
    close(to_owner[1]); /* the owner cleans up and exits */
    waitpid(o, NULL, 0);
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "drive"))
        return drive(argv[2], (uid_t)atoi(argv[3]), (uid_t)atoi(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "owner")) {
        secret = argv[3];
        return owner(argv[2]);
    }
    if (argc >= 5 && !strcmp(argv[1], "attack")) {
        secret = argv[3];
        return attacker(argv[2], (pid_t)atoi(argv[4]), argc - 5, argv + 5);
    }
    fprintf(stderr, "usage: isolate drive strict|shared|dropped OWNER_UID ATTACKER_UID\n");
    return 2;
}
