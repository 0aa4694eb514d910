/* Issue 13, test 3: users share, and are denied, queues exactly as the kernel decides.
 *
 * A small interpreter of message-queue operations, run (as root) by tests/ns/run.sh once
 * per step of a scenario, all in one IPC namespace:
 *
 *   users [as UID GID GROUPS] 'OP ARGS' ['OP ARGS'...]
 *
 * `as` drops to UID/GID with the supplementary GROUPS ("-" for none, else "g1,g2") and
 * execs itself with the rest: a separate program started by that user, whose shim (if
 * preloaded) starts as that user. Operations (KEY in hex, FLAGS/MODE in octal):
 *
 *   get KEY FLAGS        msgget
 *   snd KEY TYPE TEXT    msgsnd (IPC_NOWAIT) to msgget(KEY, 0)
 *   rcv KEY TYPE         msgrcv (IPC_NOWAIT)
 *   stat KEY             IPC_STAT
 *   mstat KEY            MSG_STAT on KEY's index (found with MSG_STAT_ANY)
 *   any KEY              MSG_STAT_ANY on KEY's index
 *   set KEY UID GID MODE IPC_SET (after IPC_STAT)
 *   rm KEY               IPC_RMID
 *   info                 MSG_INFO
 *   proc                 the queue lines of /proc/sysvipc/msg
 *   drop UID GID GROUPS  drop privileges in this process (no exec) and go on
 *
 * Each prints one line: "uid=U op ... = result". NSTEST_BREAK=1 makes `as` and `drop`
 * keep root's credentials, so a comparison against a correct run must fail.
 *
 * Build: cc -O2 -o users users.c
 */
#include "common.h"
#include <grp.h>

static int broken;

static void drop(const char *u, const char *g, const char *groups)
{
    if (broken)
        return;
    gid_t list[16];
    int n = 0;
    if (strcmp(groups, "-") != 0) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", groups);
        for (char *t = strtok(buf, ","); t && n < 16; t = strtok(NULL, ","))
            list[n++] = (gid_t)strtoul(t, NULL, 10);
    }
    uid_t uid = (uid_t)strtoul(u, NULL, 10);
    gid_t gid = (gid_t)strtoul(g, NULL, 10);
    if (setgroups(n, list) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
        say("drop to %s/%s: %s\n", u, g, ename(errno));
        exit(2);
    }
}

/* KEY's index in the namespace's table (MSG_STAT_ANY over 0..maxidx), or -1. */
static int index_of(key_t key)
{
    struct msginfo mi;
    int max = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
    for (int i = 0; i <= max; i++) {
        struct msqid_ds ds;
        if (msgctl(i, MSG_STAT_ANY, &ds) >= 0 && ds.msg_perm.__key == key)
            return i;
    }
    return -1;
}

static void show_ds(const char *what, int r, const struct msqid_ds *ds)
{
    if (r < 0) {
        say(" = -1 %s\n", ename(errno));
        return;
    }
    say(" = %s uid=%u gid=%u cuid=%u cgid=%u mode=%o qnum=%lu qbytes=%lu\n",
        strcmp(what, "stat") == 0 ? "0" : "id", ds->msg_perm.uid, ds->msg_perm.gid,
        ds->msg_perm.cuid, ds->msg_perm.cgid, ds->msg_perm.mode, (unsigned long)ds->msg_qnum,
        (unsigned long)ds->msg_qbytes);
}

static void run(char *op)
{
    char *argv[8];
    int argc = 0;
    for (char *t = strtok(op, " "); t && argc < 8; t = strtok(NULL, " "))
        argv[argc++] = t;
    if (argc == 0)
        return;
    const char *c = argv[0];
    key_t key = argc > 1 ? (key_t)strtoul(argv[1], NULL, 16) : 0;
    say("uid=%u", getuid());
    if (!strcmp(c, "drop") && argc == 4) {
        drop(argv[1], argv[2], argv[3]);
        say(" drop to %s/%s groups %s\n", argv[1], argv[2], argv[3]);
        return;
    }
    if (!strcmp(c, "info")) {
        char b[160];
        info_line(b, sizeof b);
        say(" %s\n", b);
        return;
    }
    if (!strcmp(c, "proc")) {
        say(" /proc/sysvipc/msg queues = %d\n", proc_queue_lines());
        return;
    }
    if (!strcmp(c, "get") && argc == 3) {
        int flags = (int)strtol(argv[2], NULL, 8);
        say(" msgget(%s, 0%o) = %s\n", argv[1], flags, R(msgget(key, flags)));
        return;
    }
    if (!strcmp(c, "any") || !strcmp(c, "mstat")) {
        int idx = index_of(key);
        struct msqid_ds ds;
        say(" %s %s", !strcmp(c, "any") ? "MSG_STAT_ANY" : "MSG_STAT", argv[1]);
        if (idx < 0) {
            say(" = no such index\n");
            return;
        }
        int r = msgctl(idx, !strcmp(c, "any") ? MSG_STAT_ANY : MSG_STAT, &ds);
        show_ds(c, r, &ds);
        return;
    }
    int id = msgget(key, 0);
    say(" %s %s", c, argv[1]);
    if (id < 0) {
        say(": msgget -1 %s\n", ename(errno));
        return;
    }
    if (!strcmp(c, "snd") && argc == 4) {
        say(" = %s\n", ename(snd_text(id, strtol(argv[2], NULL, 10), argv[3], IPC_NOWAIT)));
    } else if (!strcmp(c, "rcv") && argc == 3) {
        char b[600];
        rcv_text(id, strtol(argv[2], NULL, 10), b, sizeof b);
        say(" = %s\n", b);
    } else if (!strcmp(c, "stat")) {
        struct msqid_ds ds;
        int r = msgctl(id, IPC_STAT, &ds);
        show_ds(c, r, &ds);
    } else if (!strcmp(c, "set") && argc == 5) {
        struct msqid_ds ds;
        memset(&ds, 0, sizeof ds);
        /* IPC_STAT may be denied: IPC_SET still runs with the fields it takes. */
        msgctl(id, IPC_STAT, &ds);
        ds.msg_perm.uid = (uid_t)strtoul(argv[2], NULL, 10);
        ds.msg_perm.gid = (gid_t)strtoul(argv[3], NULL, 10);
        ds.msg_perm.mode = (unsigned short)strtoul(argv[4], NULL, 8);
        if (ds.msg_qbytes == 0)
            ds.msg_qbytes = 16384;
        say(" uid=%s gid=%s mode=%s = %s\n", argv[2], argv[3], argv[4],
            R(msgctl(id, IPC_SET, &ds)));
    } else if (!strcmp(c, "rm")) {
        say(" = %s\n", R(msgctl(id, IPC_RMID, NULL)));
    } else {
        say(": bad operation\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    broken = getenv("NSTEST_BREAK") && *getenv("NSTEST_BREAK") == '1';
    if (argc >= 5 && !strcmp(argv[1], "as")) {
        drop(argv[2], argv[3], argv[4]);
        argv[4] = argv[0];
        execv("/proc/self/exe", argv + 4);
        say("exec: %s\n", ename(errno));
        return 2;
    }
    for (int i = 1; i < argc; i++)
        run(argv[i]);
    return 0;
}
