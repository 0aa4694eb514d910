/* An ordinary System V message-queue program, linked against libmsg_shim (instead of
 * LD_PRELOAD, so the guest needs no environment: the shim's default backend is kmod when
 * /dev/msgq exists). Run in the guest by mk/kmod.mk as root and as uid 1000; prints
 * "shim_prog: N passed, N failed". As root it also checks that the module follows IPC
 * namespaces as the kernel does (a child that unshares its IPC namespace no longer sees the
 * queue, and its first queue gets id 0), and proves the calls reached the module: in that new
 * namespace the kernel itself, asked with a raw system call the shim cannot intercept, has no
 * queue while the shim's MSG_INFO shows the child's one. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
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

/* msgctl(2) straight to the kernel: an inline system call, which the shim's msgctl() and
 * syscall() wrappers never see. */
static long raw_msgctl(int id, int cmd, void *buf)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_msgctl), "D"((long)id), "S"((long)cmd), "d"(buf)
			 : "rcx", "r11", "memory");
	return ret;
}

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
		int fds[2];
		check(pipe(fds) == 0, "pipe");
		pid = fork();
		if (pid == 0) {
			struct msginfo ki, si;
			char r[5] = "nnnn";
			r[0] = unshare(CLONE_NEWIPC) == 0 ? 'y' : 'n';
			r[1] = msgctl(id, IPC_STAT, &ds) == -1 && errno == EINVAL ? 'y' : 'n';
			r[2] = msgget(IPC_PRIVATE, 0600) == 0 ? 'y' : 'n';
			r[3] = raw_msgctl(0, MSG_INFO, &ki) >= 0 && ki.msgpool == 0 &&
			       msgctl(0, MSG_INFO, (struct msqid_ds *)&si) >= 0 && si.msgpool == 1 ? 'y' : 'n';
			_exit(write(fds[1], r, 4) == 4 ? 0 : 1);
		}
		char r[5] = "----";
		close(fds[1]);
		check(read(fds[0], r, 4) == 4, "child's results");
		waitpid(pid, &st, 0);
		check(r[0] == 'y', "unshare(CLONE_NEWIPC) in a child");
		check(r[1] == 'y', "the queue is not in the child's new IPC namespace (EINVAL, as the kernel)");
		check(r[2] == 'y', "the child's first queue gets id 0 (fresh namespace, as the kernel)");
		check(r[3] == 'y', "the kernel has no queue there, the module one (calls reached the module)");
		check(msgctl(id, IPC_STAT, &ds) == 0, "the parent still has its queue");
	}
	check(msgctl(id, IPC_RMID, NULL) == 0, "IPC_RMID");
	check(msgctl(id, IPC_STAT, &ds) == -1 && errno == EINVAL, "EINVAL after IPC_RMID");
	printf("shim_prog: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
