/* A signal handler sends a message while the interrupted thread is blocked in msgrcv on
 * the same queue (a common way to wake oneself). On Linux the blocked msgrcv fails with
 * EINTR (SA_RESTART or not) and the handler's message is then there to receive.
 *
 * Build: cc -O2 -o handler handler.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
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

int main(void)
{
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
