/* The library tests/shim/deepbind.c opens with RTLD_DEEPBIND: its msgget/msgsnd/msgrcv/msgctl
 * bind to libc's before the global scope, where LD_PRELOAD puts the shim, unless the shim's
 * dlopen clears the flag (libmsg-shim/src/dl.rs). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>

struct m { long mtype; char text[16]; };

/* Makes key 0x4242 (left in place: a run that reached the kernel leaves a kernel queue),
 * sends, stats, receives; prints what it saw. */
int deepbind_exchange(void)
{
	int id = msgget(0x4242, IPC_CREAT | 0600);
	if (id < 0) { printf("lib: msgget: %s\n", strerror(errno)); return 1; }
	struct m out = { 7, "deep" }, in = { 0, "" };
	if (msgsnd(id, &out, 5, IPC_NOWAIT) < 0) { printf("lib: msgsnd: %s\n", strerror(errno)); return 1; }
	struct msqid_ds ds;
	if (msgctl(id, IPC_STAT, &ds) < 0) { printf("lib: IPC_STAT: %s\n", strerror(errno)); return 1; }
	printf("lib: qnum %lu, cbytes %lu, mode %o\n", (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.__msg_cbytes, ds.msg_perm.mode & 0777);
	ssize_t n = msgrcv(id, &in, sizeof in.text, 0, IPC_NOWAIT);
	printf("lib: msgrcv %zd: type %ld '%s'\n", n, in.mtype, in.text);
	return 0;
}
