/* Issue 13, test 1: what a process sees in a new IPC namespace (run once per `unshare -i`).
 *
 * A new namespace starts empty with the default limits: msgget(K, 0) is ENOENT, MSG_INFO
 * counts no queue, /proc/sysvipc/msg lists none, msgmax/msgmnb/msgmni/msg_next_id are at
 * their defaults, and the first queue gets id 0. The program then creates queues, sends,
 * changes limits and leaves everything behind, as a program that exits would: the next
 * namespace must not see any of it. Natively every run prints the same lines.
 *
 * Build: cc -O2 -o fresh fresh.c
 */
#include "common.h"

#define K 0x13000001

int main(void)
{
    char b[256];
    const char *lim[] = { "msgmax", "msgmnb", "msgmni", "msg_next_id" };

    say("before: msgget(K, 0) = %s\n", R(msgget(K, 0)));
    info_line(b, sizeof b);
    say("before: %s\n", b);
    say("before: /proc/sysvipc/msg queues = %d\n", proc_queue_lines());
    for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/sys/kernel/%s", lim[i]);
        read_first_line(path, b, sizeof b);
        say("before: %s = %s\n", lim[i], b);
    }

    int q1 = msgget(K, IPC_CREAT | 0644);
    say("create: msgget(K, IPC_CREAT|0644) = %s\n", R(q1));
    int q2 = msgget(IPC_PRIVATE, 0600);
    say("create: msgget(IPC_PRIVATE, 0600) = %s\n", R(q2));
    int q3 = msgget(K + 1, IPC_CREAT | IPC_EXCL | 0600);
    say("create: msgget(K+1, IPC_CREAT|IPC_EXCL|0600) = %s\n", R(q3));
    say("send: %s\n", ename(snd_text(q1, 7, "left behind", IPC_NOWAIT)));
    info_line(b, sizeof b);
    say("after: %s\n", b);
    say("after: /proc/sysvipc/msg queues = %d\n", proc_queue_lines());

    /* Limits changed in this namespace only. */
    say("write msgmax=1000: %s\n", write_value("/proc/sys/kernel/msgmax", "1000\n"));
    say("write msgmnb=2000: %s\n", write_value("/proc/sys/kernel/msgmnb", "2000\n"));
    say("write msgmni=50: %s\n", write_value("/proc/sys/kernel/msgmni", "50\n"));
    say("write msg_next_id=77: %s\n", write_value("/proc/sys/kernel/msg_next_id", "77\n"));
    say("create: msgget(IPC_PRIVATE, 0600) = %s\n", R(msgget(IPC_PRIVATE, 0600)));
    for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/sys/kernel/%s", lim[i]);
        read_first_line(path, b, sizeof b);
        say("after: %s = %s\n", lim[i], b);
    }
    /* Exit with everything still there: the namespace's end must take it all. */
    return 0;
}
