/* An ordinary System V message-queue program, linked against libmsg_shim (instead of
 * LD_PRELOAD, so the guest needs no environment: the shim's default backend is kmod when
 * /dev/msgq exists). Run in the guest by mk/kmod.mk as root and as uid 1000; prints
 * "shim_prog: N passed, N failed". As root it also proves the calls reached the module: after
 * unshare(CLONE_NEWIPC) the kernel's queues are gone, the module's queue is still there. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what)
{
	if (ok) {
		passed++;
		printf("ok %s\n", what);
	} else {
		failed++;
		printf("FAIL %s (errno %d %s)\n", what, errno, strerror(errno));
	}
}

struct m {
	long mtype;
	char mtext[64];
};

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	struct m s = { 2, "hello" }, r;
	struct msqid_ds ds;
	int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	check(id >= 0, "msgget");
	check(msgsnd(id, &s, 5, 0) == 0, "msgsnd type 2");
	s.mtype = 1;
	strcpy(s.mtext, "x");
	check(msgsnd(id, &s, 1, 0) == 0, "msgsnd type 1");
	memset(&r, 0, sizeof(r));
	check(msgrcv(id, &r, sizeof(r.mtext), -2, 0) == 1 && r.mtype == 1, "msgrcv -2 gets type 1");
	check(msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 1 && (ds.msg_perm.mode & 0777) == 0600,
	      "IPC_STAT");
	check(msgrcv(id, &r, 2, 0, IPC_NOWAIT) == -1 && errno == E2BIG, "E2BIG");
	check(msgrcv(id, &r, sizeof(r.mtext), 0, 0) == 5 && memcmp(r.mtext, "hello", 5) == 0,
	      "msgrcv 0");
	check(msgrcv(id, &r, sizeof(r.mtext), 0, IPC_NOWAIT) == -1 && errno == ENOMSG, "ENOMSG");

	/* A blocked receiver interrupted by a handler installed with SA_RESTART: EINTR. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	check(msgrcv(id, &r, sizeof(r.mtext), 0, 0) == -1 && errno == EINTR, "EINTR with SA_RESTART");

	/* A child blocks; the parent's send wakes it. */
	pid_t pid = fork();
	if (pid == 0) {
		struct m c;
		_exit(msgrcv(id, &c, sizeof(c.mtext), 7, 0) == 3 ? 0 : 1);
	}
	usleep(300000);
	s.mtype = 7;
	check(msgsnd(id, &s, 3, 0) == 0, "msgsnd to a blocked child");
	int st = 0;
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child received");

	if (geteuid() == 0) {
		check(unshare(CLONE_NEWIPC) == 0, "unshare(CLONE_NEWIPC)");
		check(msgctl(id, IPC_STAT, &ds) == 0, "the queue outlives the kernel namespace (kmod)");
	}
	check(msgctl(id, IPC_RMID, NULL) == 0, "IPC_RMID");
	check(msgctl(id, IPC_STAT, &ds) == -1 && errno == EINVAL, "EINVAL after IPC_RMID");
	printf("shim_prog: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
