/* The guest test of the `msgq` command's kmod backend and of the shim's /proc emulation
 * under that backend (mk/kmod-cli.mk; run by `make vm-test` as root and as uid 1000).
 *
 * The real `msgq` binary (static, stripped) is packed into this program (.incbin, the path
 * in MSGQ_BIN) and run from a memfd with fexecve, with its stdout and stderr captured. This
 * program is linked against libmsg_shim, whose backend is kmod here (/dev/msgq exists), so
 * its own msgget/msgctl/msgsnd go through the shim's ioctl client, and its fopen/open of
 * /proc/sysvipc/msg and /proc/sys/kernel/msg* reach the shim's emulation. A copy of itself
 * run with MSGQ_BACKEND=native (argv[1] = "native") makes and removes a queue of the guest
 * kernel and reads the kernel's real files, to show the emulated ones differ.
 * Prints "kmod_cli: N passed, N failed". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MSGQ_BIN
#error "build with -DMSGQ_BIN='\"/path/to/static/msgq\"'"
#endif

__asm__(".section .rodata\n"
	".balign 16\n"
	".globl msgq_bin\n"
	"msgq_bin:\n"
	".incbin \"" MSGQ_BIN "\"\n"
	".globl msgq_bin_end\n"
	"msgq_bin_end:\n"
	".previous\n");
extern const char msgq_bin[], msgq_bin_end[];

extern char **environ;

static int passed, failed;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf(ok ? "ok   " : "FAIL ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (ok)
		passed++;
	else
		failed++;
	fflush(stdout);
}

/* ---- running a program with its output captured ---- */

struct run {
	int rc; /* exit status, or -1 */
	char out[16384];
	char err[4096];
};

static void drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == cap - 1) {
			char sink[256];
			while (read(fd, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	buf[n] = 0;
}

/* Runs the program `fd` (a memfd) or `path` with argv and extra environment `env` (NULL-
 * terminated "K=V" list, may be NULL). Stdout is read to its end before stderr: outputs here
 * are small (below the pipe buffer). */
static void run_prog(int fd, const char *path, char *const argv[], const char *const env[], struct run *r)
{
	int po[2], pe[2];
	memset(r, 0, sizeof(*r));
	r->rc = -1;
	if (pipe(po) || pipe(pe)) {
		snprintf(r->err, sizeof(r->err), "pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		char *envp[64];
		int n = 0;
		for (char **e = environ; *e && n < 40; e++)
			envp[n++] = *e;
		for (const char *const *e = env; e && *e && n < 63; e++)
			envp[n++] = (char *)*e;
		envp[n] = NULL;
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		if (fd >= 0)
			fexecve(fd, argv, envp);
		else
			execve(path, argv, envp);
		dprintf(2, "exec: %s\n", strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	drain(po[0], r->out, sizeof(r->out));
	drain(pe[0], r->err, sizeof(r->err));
	close(po[0]);
	close(pe[0]);
	int st;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		r->rc = WEXITSTATUS(st);
}

static int msgq_fd = -1;

/* msgq ARGS... (NULL-terminated), with the extra environment `env`. */
static void msgq_env(struct run *r, const char *const env[], ...)
{
	char *argv[32] = { "msgq" };
	int n = 1;
	va_list ap;
	va_start(ap, env);
	for (char *a; n < 31 && (a = va_arg(ap, char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	run_prog(msgq_fd, NULL, argv, env, r);
	/* Every failure message must name an errno or say what is wrong, on one line. */
	printf("  $ msgq");
	for (int i = 1; i < n; i++)
		printf(" %s", argv[i]);
	printf("  -> rc %d%s%s", r->rc, r->err[0] ? ", stderr: " : "", r->err);
	if (!r->err[0])
		printf("\n");
}

#define msgq(r, ...) msgq_env(r, NULL, __VA_ARGS__, (char *)NULL)

/* ---- a small strict JSON checker (RFC 8259 grammar, no semantics) ---- */

static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return p + 1;
}

static const char *js_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *js_seq(const char *p, int depth, char close, int keyed)
{
	p = js_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (keyed) {
			if (!(p = js_string(p)))
				return NULL;
			p = js_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if (!(p = js_value(p, depth + 1)))
			return NULL;
		p = js_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = js_ws(p);
	}
}

static const char *js_value(const char *p, int depth)
{
	p = js_ws(p);
	if (depth > 32)
		return NULL;
	switch (*p) {
	case '{':
		return js_seq(p, depth, '}', 1);
	case '[':
		return js_seq(p, depth, ']', 0);
	case '"':
		return js_string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return js_number(p);
	}
}

/* Whether `s` is exactly one JSON value (and white space). */
static int json_ok(const char *s)
{
	const char *e = js_value(s, 0);
	return e && !*js_ws(e);
}

/* The object of `json` (validated; lsipc's shape, every value a string) whose "id" is ID,
 * copied into `obj`. */
static int json_queue(const char *json, int id, char *obj, size_t cap)
{
	char pat[32];
	snprintf(pat, sizeof(pat), "\"id\": \"%d\"", id);
	const char *at = strstr(json, pat), *a = at, *b = at ? strchr(at, '}') : NULL;
	while (a && a > json && *a != '{')
		a--;
	if (!b || !a || *a != '{' || (size_t)(b - a + 2) > cap)
		return 0;
	memcpy(obj, a, (size_t)(b - a + 1));
	obj[b - a + 1] = 0;
	return 1;
}

/* ---- files read and written through the shim ---- */

/* Reads a whole file with fopen (the shim's fopen) into buf; -1 and errno on failure. */
static int slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	fclose(f);
	return (int)n;
}

/* The same with open/read (the shim's open). */
static int slurp_fd(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (ssize_t r; n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0;)
		n += (size_t)r;
	buf[n] = 0;
	close(fd);
	return (int)n;
}

static long read_limit(const char *name)
{
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return -1000 - errno;
	return strtol(buf, NULL, 10);
}

/* The value of "name":N or "name": "N" in a JSON object text, or -999999. */
static long json_num(const char *obj, const char *name)
{
	char pat[48];
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	const char *p = strstr(obj, pat);
	if (!p)
		return -999999;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p == '"')
		p++;
	return strtol(p, NULL, 10);
}

static const char KERNEL_HEADER[] = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n";

/* The kernel's /proc/sysvipc/msg row for `ds` (ipc/msg.c's sysvipc_msg_proc_show format). */
static void kernel_row(char *buf, size_t cap, int id, const struct msqid_ds *ds)
{
	snprintf(buf, cap, "%10d %10d  %4o  %10lu %10lu %5u %5u %5u %5u %5u %5u %10llu %10llu %10llu\n",
		 ds->msg_perm.__key, id, ds->msg_perm.mode, (unsigned long)ds->__msg_cbytes,
		 (unsigned long)ds->msg_qnum, (unsigned)ds->msg_lspid, (unsigned)ds->msg_lrpid,
		 ds->msg_perm.uid, ds->msg_perm.gid, ds->msg_perm.cuid, ds->msg_perm.cgid,
		 (unsigned long long)ds->msg_stime, (unsigned long long)ds->msg_rtime,
		 (unsigned long long)ds->msg_ctime);
}

/* ---- the native helper: a copy of this program on the guest kernel's own queues ---- */

/* argv: native mk KEY | native rm KEY | native cat PATH */
static int native_main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	if (!strcmp(argv[2], "mk")) {
		int id = msgget((key_t)strtol(argv[3], NULL, 0), IPC_CREAT | 0600);
		printf("%d\n", id);
		return id < 0;
	}
	if (!strcmp(argv[2], "rm")) {
		int id = msgget((key_t)strtol(argv[3], NULL, 0), 0);
		return id < 0 || msgctl(id, IPC_RMID, NULL) != 0;
	}
	if (!strcmp(argv[2], "cat")) {
		static char buf[65536];
		if (slurp(argv[3], buf, sizeof(buf)) < 0)
			return 1;
		fputs(buf, stdout);
		return 0;
	}
	return 2;
}

static void native(struct run *r, const char *what, const char *arg)
{
	static const char *const env[] = { "MSGQ_BACKEND=native", NULL };
	char *argv[] = { "kmod_cli", "native", (char *)what, (char *)arg, NULL };
	run_prog(-1, "/proc/self/exe", argv, env, r);
}

/* ---- the test ---- */

static int int_of(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (end != s && *end == '\n' && end[1] == 0) ? (int)v : -1;
}

/* The line of a `msgq list` table whose first column is `id`: its columns. */
static int table_row(const char *table, int id, char cols[10][24])
{
	char want[16];
	snprintf(want, sizeof(want), "%d", id);
	for (const char *l = table; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		int n = sscanf(l, "%23s %23s %23s %23s %23s %23s %23s %23s %23s %23s", cols[0], cols[1],
			       cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9]);
		if (n == 10 && !strcmp(cols[0], want))
			return 1;
	}
	return 0;
}

struct m {
	long mtype;
	char mtext[128];
};

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "native"))
		return native_main(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);

	uid_t uid = geteuid();
	int root = uid == 0;
	key_t key = (key_t)(0x6b630000 | (uid & 0xffff));
	key_t nkey = (key_t)(0x6e610000 | (uid & 0xffff));
	char keyarg[16], keyhex[16], idarg[16];
	snprintf(keyarg, sizeof(keyarg), "%#x", (unsigned)key);
	snprintf(keyhex, sizeof(keyhex), "%#010x", (unsigned)key);
	struct run r;
	static char text[65536];
	char obj[1024], row[256];
	struct msqid_ds ds;

	msgq_fd = memfd_create("msgq", 0);
	size_t len = (size_t)(msgq_bin_end - msgq_bin);
	check(msgq_fd >= 0 && write(msgq_fd, msgq_bin, len) == (ssize_t)len,
	      "the packed msgq binary (%zu bytes) is in a memfd", len);
	check(access("/dev/msgq", F_OK) == 0, "/dev/msgq exists");
	/* Leftovers of an interrupted earlier run. */
	for (key_t k = key; ; k = 0) {
		int old = msgget(k, 0);
		if (old >= 0)
			msgctl(old, IPC_RMID, NULL);
		if (!k)
			break;
	}

	/* mk: explicit backend; the queue is the module's, seen through the shim's ioctls. */
	msgq(&r, "--backend", "kmod", "mk", "--key", keyarg, "--mode", "640");
	int id = int_of(r.out);
	check(r.rc == 0 && id >= 0, "msgq --backend kmod mk --key %s prints an id (%d)", keyarg, id);
	snprintf(idarg, sizeof(idarg), "%d", id);
	check(msgget(key, 0) == id, "the shim's msgget(key) finds the same id");
	check(msgctl(id, IPC_STAT, &ds) == 0 && (ds.msg_perm.mode & 0777) == 0640 &&
		      ds.msg_perm.uid == uid && ds.msg_qnum == 0,
	      "IPC_STAT through the shim: mode 640, owner uid %u, empty", (unsigned)uid);
	msgq(&r, "mk", "--key", keyarg, "--excl");
	check(r.rc == 1 && strstr(r.err, "File exists (EEXIST)"), "mk --excl on the key: EEXIST");

	/* send: the default backend is kmod when /dev/msgq exists; MSGQ_BACKEND=kmod too. */
	msgq(&r, "send", idarg, "hello kmod", "--type", "7");
	check(r.rc == 0, "msgq send (default backend) type 7");
	static const char *const kmod_env[] = { "MSGQ_BACKEND=kmod", NULL };
	static const char utf8[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93";
	msgq_env(&r, kmod_env, "send", "--key", keyarg, utf8, "--type", "3", (char *)NULL);
	check(r.rc == 0, "MSGQ_BACKEND=kmod msgq send --key, UTF-8 text, type 3");
	struct m mb = { 5, "from the shim" };
	check(msgsnd(id, &mb, strlen(mb.mtext), 0) == 0, "msgsnd through the shim, type 5");
	size_t bytes = strlen("hello kmod") + strlen(utf8) + strlen(mb.mtext);
	check(msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 3 && ds.__msg_cbytes == bytes,
	      "IPC_STAT: 3 messages, %zu bytes", bytes);

	/* list: the table (the columns of the old default, as -o gives them) and JSON. */
	msgq(&r, "list", "-o", "ID,KEY,PERMS,UID,GID,USEDBYTES,MSGS,QBYTES,LSPID,LRPID", "-P");
	char cols[10][24];
	int found = r.rc == 0 && table_row(r.out, id, cols);
	check(found && !strcmp(cols[1], keyhex) && !strcmp(cols[2], "640") && atoi(cols[6]) == 3 &&
		      atol(cols[5]) == (long)bytes,
	      "msgq list: the row of %d has key %s, perms 640, %zu bytes, 3 messages", id, keyhex, bytes);
	msgq(&r, "list", "--json", "-o", "+UID");
	check(r.rc == 0 && json_ok(r.out), "msgq list --json parses as JSON");
	char keykv[48];
	snprintf(keykv, sizeof(keykv), "\"key\": \"%s\"", keyhex);
	check(json_queue(r.out, id, obj, sizeof(obj)) && json_num(obj, "msgs") == 3 &&
		      json_num(obj, "usedbytes") == (long)bytes && strstr(obj, keykv) &&
		      strstr(obj, "\"perms\": \"rw-r-----\"") && json_num(obj, "uid") == (long)uid,
	      "list --json (lsipc's shape): the queue's object has msgs 3, usedbytes, key, perms, uid");

	/* show */
	msgq(&r, "show", idarg);
	check(r.rc == 0 && strstr(r.out, "messages 3\n") && strstr(r.out, "mode     640\n") &&
		      strstr(r.out, keyhex),
	      "msgq show ID");
	msgq(&r, "show", "--key", keyarg, "--json");
	check(r.rc == 0 && json_ok(r.out) && json_num(r.out, "id") == id && json_num(r.out, "msgs") == 3,
	      "msgq show --key --json");
	msgq(&r, "show", "32767");
	check(r.rc == 1 && strstr(r.err, "no queue with id 32767"), "show of a missing id fails");

	/* /proc/sysvipc/msg through the shim: the module's queue, in the kernel's format. */
	char nkeyarg[16];
	snprintf(nkeyarg, sizeof(nkeyarg), "%#x", (unsigned)nkey);
	native(&r, "mk", nkeyarg);
	int nid = int_of(r.out);
	check(r.rc == 0 && nid >= 0, "a queue of the guest kernel (MSGQ_BACKEND=native helper), key %s",
	      nkeyarg);
	native(&r, "cat", "/proc/sysvipc/msg");
	char nkeycol[16], keycol[16];
	snprintf(nkeycol, sizeof(nkeycol), "%10d ", nkey);
	snprintf(keycol, sizeof(keycol), "%10d ", key);
	check(r.rc == 0 && !strncmp(r.out, KERNEL_HEADER, sizeof(KERNEL_HEADER) - 1) &&
		      strstr(r.out, nkeycol) && !strstr(r.out, keycol),
	      "the kernel's own /proc/sysvipc/msg lists its queue and not the module's");
	check(slurp("/proc/sysvipc/msg", text, sizeof(text)) > 0, "fopen /proc/sysvipc/msg (shim)");
	check(msgctl(id, IPC_STAT, &ds) == 0, "IPC_STAT for the expected row");
	kernel_row(row, sizeof(row), id, &ds);
	check(!strncmp(text, KERNEL_HEADER, sizeof(KERNEL_HEADER) - 1), "emulated header = kernel's");
	check(strstr(text, row) != NULL, "emulated text has the module queue's row, byte for byte:\n%s",
	      row);
	check(!strstr(text, nkeycol), "emulated text does not list the kernel's queue (key %s)", nkeyarg);
	check(slurp_fd("/proc/sysvipc/msg", text, sizeof(text)) > 0 && strstr(text, row),
	      "open/read of /proc/sysvipc/msg gives the same row");
	errno = 0;
	check(open("/proc/sysvipc/msg", O_WRONLY) == -1 && errno == EACCES,
	      "opening /proc/sysvipc/msg for writing: EACCES");
	native(&r, "rm", nkeyarg);
	check(r.rc == 0, "the kernel's queue removed");

	/* recv: content and type round-trip, in queue order. */
	msgq(&r, "recv", idarg, "--print-type");
	check(r.rc == 0 && !strcmp(r.out, "7\thello kmod\n"), "recv: 7<TAB>hello kmod");
	msgq(&r, "recv", "--key", keyarg, "--type", "-4", "--print-type");
	snprintf(row, sizeof(row), "3\t%s\n", utf8);
	check(r.rc == 0 && !strcmp(r.out, row),
	      "recv --type -4: the UTF-8 message, type 3");
	msgq(&r, "recv", idarg, "--size", "4");
	check(r.rc == 1 && strstr(r.err, "Argument list too long (E2BIG)"), "recv --size 4: E2BIG");
	msgq(&r, "recv", idarg, "--size", "4", "--noerror");
	check(r.rc == 0 && !strcmp(r.out, "from\n"), "recv --size 4 --noerror: truncated text");
	msgq(&r, "recv", idarg, "--nowait");
	check(r.rc == 1 && strstr(r.err, "(ENOMSG)"), "recv --nowait on an empty queue: ENOMSG");
	check(msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0 && ds.__msg_cbytes == 0,
	      "IPC_STAT: empty again");
	msgq(&r, "send", idarg, "x", "--type", "0");
	check(r.rc == 1 && strstr(r.err, "Invalid argument (EINVAL)"), "send --type 0: EINVAL");

	/* The extensions (issue 14) through the module's ioctls. */
	msgq(&r, "send", idarg, "first", "--type", "2");
	msgq(&r, "send", idarg, "second");
	msgq(&r, "send", idarg, "urgent", "--urgent", "--type", "3");
	check(r.rc == 0 && !r.out[0], "send --urgent prints nothing");
	msgq(&r, "recv", idarg, "--peek", "--print-type");
	check(r.rc == 0 && !strcmp(r.out, "3\turgent\n"), "recv --peek: the urgent message first");
	check(msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 3, "the peek left it: 3 messages");
	msgq(&r, "receive", idarg, "--type", "1", "--timeout", "2s");
	check(r.rc == 0 && !strcmp(r.out, "second\n"), "receive --type 1 --timeout 2s: a waiting message");
	msgq(&r, "purge", idarg);
	check(r.rc == 0 && !strcmp(r.out, "2\n"), "purge prints 2");
	check(msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0, "purged: empty");
	msgq(&r, "recv", idarg, "--timeout", "100ms");
	check(r.rc == 1 && strstr(r.err, "ETIMEDOUT: no message arrived before the deadline (--timeout 100ms)"),
	      "recv --timeout 100ms on an empty queue: ETIMEDOUT, the rule named");
	msgq(&r, "recv", idarg, "--peek", "--timeout", "0");
	check(r.rc == 1 && strstr(r.err, "peek from") && strstr(r.err, "ETIMEDOUT"),
	      "recv --peek --timeout 0: ETIMEDOUT");
	msgq(&r, "abort", idarg, "--both");
	check(r.rc == 0 && !strcmp(r.out, "0\n"), "abort --both with nobody waiting: 0");
	msgq(&r, "select", idarg, "--timeout", "50ms");
	check(r.rc == 1 && strstr(r.err, "select: ETIMEDOUT"), "select of an empty queue --timeout 50ms: ETIMEDOUT");
	msgq(&r, "send", idarg, "sel", "--type", "6");
	{
		char want[64];
		snprintf(want, sizeof want, "4242 EINVAL\n%s ready\n", idarg);
		msgq(&r, "select", "4242", idarg);
		check(r.rc == 0 && !strcmp(r.out, want), "select of a bad id and a queue with a message: %s", r.out);
		msgq(&r, "select", idarg, "--type", "6", "--except", "--timeout", "50ms");
		check(r.rc == 1 && strstr(r.err, "ETIMEDOUT"), "select --type 6 --except: ETIMEDOUT");
	}
	msgq(&r, "recv", idarg, "--nowait");
	check(r.rc == 0 && !strcmp(r.out, "sel\n"), "select received nothing");
	msgq(&r, "send", idarg, "to nobody", "--broadcast");
	check(r.rc == 0 && !strcmp(r.out, "0\n"), "send --broadcast with no receiver: 0, queued");
	msgq(&r, "recv", idarg, "--nowait");
	check(r.rc == 0 && !strcmp(r.out, "to nobody\n"), "the broadcast message was queued");
	/* A receive blocked in another process, ended by msgq abort. */
	pid_t rcv = fork();
	if (rcv == 0) {
		struct run rr;
		run_prog(msgq_fd, NULL, (char *[]){ "msgq", "recv", idarg, NULL }, NULL, &rr);
		_exit(rr.rc == 1 && strstr(rr.err, "ECANCELED: the wait was aborted") ? 0 : 1);
	}
	int aborted = 0;
	for (int i = 0; i < 500 && !aborted; i++) {
		msgq(&r, "abort", idarg, "--receivers");
		aborted = r.rc == 0 && !strcmp(r.out, "1\n");
		if (!aborted)
			usleep(20000);
	}
	int st = 0;
	check(aborted, "abort --receivers prints 1 once the receive is blocked");
	if (!aborted)
		kill(rcv, SIGKILL);
	check(waitpid(rcv, &st, 0) == rcv && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the blocked recv ends with ECANCELED, the rule named");
	/* Overwrite on a queue of 10 bytes (lowering msg_qbytes needs no privilege). */
	check(msgctl(id, IPC_STAT, &ds) == 0, "IPC_STAT before lowering msg_qbytes");
	msglen_t qbytes = ds.msg_qbytes;
	ds.msg_qbytes = 10;
	check(msgctl(id, IPC_SET, &ds) == 0, "IPC_SET msg_qbytes 10");
	msgq(&r, "send", idarg, "aaaa");
	msgq(&r, "send", idarg, "bbbb");
	msgq(&r, "send", idarg, "cccccc", "--overwrite");
	check(r.rc == 0 && !strcmp(r.out, "1\n"), "send --overwrite drops the oldest: prints 1");
	msgq(&r, "send", idarg, "eleven char", "--overwrite");
	check(r.rc == 1 && strstr(r.err, "EMSGSIZE"), "send --overwrite of 11 bytes into 10: EMSGSIZE");
	msgq(&r, "send", idarg, "12345", "--timeout", "50ms");
	check(r.rc == 1 && strstr(r.err, "ETIMEDOUT: the queue had no room"),
	      "send --timeout 50ms to a full queue: ETIMEDOUT");
	msgq(&r, "purge", idarg);
	check(r.rc == 0 && !strcmp(r.out, "2\n"), "purge prints 2");
	ds.msg_qbytes = qbytes;
	check(msgctl(id, IPC_SET, &ds) == 0, "msg_qbytes restored");
	msgq(&r, "send", idarg, "x", "--overwrite", "--broadcast");
	check(r.rc == 2 && strstr(r.err, "cannot be used with"), "--overwrite with --broadcast: usage error");
	msgq(&r, "recv", idarg, "--urgent");
	check(r.rc == 2 && strstr(r.err, "--urgent is a send flag"), "recv --urgent: usage error");

	/* Store-only commands. */
	msgq(&r, "check");
	check(r.rc == 1 && strstr(r.err, "backend is kmod"), "msgq check under kmod: a clear error");
	msgq(&r, "--backend", "user", "--store", "/tmp/kmod-cli-store", "list", "--json");
	check(r.rc == 1 && strstr(r.err, "no msgq store at /tmp/kmod-cli-store"),
	      "--backend user still works (a store that does not exist is an error)");

	/* limits: the module's, as JSON, equal to the emulated /proc/sys/kernel files. */
	msgq(&r, "limits", "show", "--json");
	long lmax = json_num(r.out, "msgmax"), lmnb = json_num(r.out, "msgmnb");
	long lmni = json_num(r.out, "msgmni"), lnext = json_num(r.out, "msg_next_id");
	check(r.rc == 0 && json_ok(r.out) && lmax > 0 && lmnb > 0 && lmni > 0 && lnext == -1,
	      "limits show --json: msgmax %ld msgmnb %ld msgmni %ld msg_next_id %ld", lmax, lmnb, lmni,
	      lnext);
	check(read_limit("msgmax") == lmax && read_limit("msgmnb") == lmnb &&
		      read_limit("msgmni") == lmni && read_limit("msg_next_id") == -1,
	      "the emulated /proc/sys/kernel/msg{max,mnb,mni,_next_id} show the same");
	msgq(&r, "limits");
	check(r.rc == 0 && strstr(r.out, "msgmax ") && strstr(r.out, "msg_next_id  -1\n"),
	      "limits (table)");

	if (root) {
		msgq(&r, "limits", "set", "--msgmax", "4000", "--msgmnb", "3000");
		check(r.rc == 0, "root: limits set --msgmax 4000 --msgmnb 3000");
		msgq(&r, "limits", "show", "--json");
		check(json_num(r.out, "msgmax") == 4000 && json_num(r.out, "msgmnb") == 3000,
		      "limits show: 4000, 3000");
		check(read_limit("msgmax") == 4000, "emulated /proc/sys/kernel/msgmax: 4000");
		native(&r, "cat", "/proc/sys/kernel/msgmax");
		check(r.rc == 0 && atol(r.out) != 4000 && atol(r.out) > 0,
		      "the kernel's own msgmax is unchanged (%ld)", atol(r.out));
		msgq(&r, "limits", "set", "--msgmax", "-1");
		check(r.rc == 1 && strstr(r.err, "msgmax = -1: Invalid argument (EINVAL)"),
		      "limits set --msgmax -1: EINVAL");
		/* Writing the emulated files reaches the module. */
		int fd = open("/proc/sys/kernel/msgmnb", O_WRONLY | O_TRUNC);
		check(fd >= 0 && write(fd, "2500\n", 5) == 5 && close(fd) == 0,
		      "write 2500 to /proc/sys/kernel/msgmnb (shim)");
		FILE *f = fopen("/proc/sys/kernel/msgmax", "w");
		int ok = f && fprintf(f, "%ld\n", lmax) > 0;
		check(f && fclose(f) == 0 && ok, "fopen/fprintf %ld to /proc/sys/kernel/msgmax", lmax);
		fd = open("/proc/sys/kernel/msgmni", O_WRONLY);
		errno = 0;
		check(fd >= 0 && write(fd, "40000", 5) == -1 && errno == EINVAL,
		      "write 40000 to msgmni: EINVAL");
		if (fd >= 0)
			close(fd);
		msgq(&r, "limits", "show", "--json");
		check(json_num(r.out, "msgmnb") == 2500 && json_num(r.out, "msgmax") == lmax &&
			      json_num(r.out, "msgmni") == lmni,
		      "msgq sees the writes: msgmnb 2500, msgmax %ld, msgmni unchanged", lmax);
		snprintf(row, sizeof(row), "%ld", lmnb);
		msgq(&r, "limits", "set", "--msgmnb", row);
		check(r.rc == 0 && read_limit("msgmnb") == lmnb, "msgmnb restored to %ld", lmnb);
		/* msg_next_id: the next queue gets it, once. */
		int want = 3 * 32768 + 1000;
		snprintf(row, sizeof(row), "%d", want);
		msgq(&r, "limits", "set", "--msg-next-id", row);
		check(r.rc == 0 && read_limit("msg_next_id") == want, "msg_next_id set to %d", want);
		msgq(&r, "mk");
		int nid2 = int_of(r.out);
		check(nid2 == want && read_limit("msg_next_id") == -1,
		      "mk gets id %d, msg_next_id back to -1", want);
		snprintf(row, sizeof(row), "%d", nid2);
		msgq(&r, "rm", row);
		check(r.rc == 0, "rm %d", nid2);
	} else {
		msgq(&r, "limits", "set", "--msgmax", "100");
		check(r.rc == 1 && strstr(r.err, "msgmax = 100: Operation not permitted (EPERM)"),
		      "uid %u: limits set --msgmax 100 fails with EPERM", (unsigned)uid);
		check(read_limit("msgmax") == lmax, "msgmax unchanged");
		errno = 0;
		check(open("/proc/sys/kernel/msgmax", O_WRONLY) == -1 && errno == EACCES,
		      "uid %u: opening /proc/sys/kernel/msgmax for writing: EACCES (as the kernel)",
		      (unsigned)uid);
		errno = 0;
		check(fopen("/proc/sys/kernel/msgmnb", "w") == NULL && errno == EACCES,
		      "uid %u: fopen(msgmnb, \"w\"): EACCES", (unsigned)uid);
	}

	/* rm by id and by key; errors named as Linux names them. */
	msgq(&r, "rm", idarg);
	check(r.rc == 0, "msgq rm %d", id);
	errno = 0;
	check(msgget(key, 0) == -1 && errno == ENOENT, "the shim's msgget(key): ENOENT");
	msgq(&r, "list", "--json");
	check(r.rc == 0 && json_ok(r.out) && !strstr(r.out, keyhex), "list --json: the queue is gone");
	check(slurp("/proc/sysvipc/msg", text, sizeof(text)) > 0 && !strstr(text, keycol),
	      "emulated /proc/sysvipc/msg: the queue is gone");
	msgq(&r, "rm", idarg);
	check(r.rc == 1 && strstr(r.err, "Invalid argument (EINVAL)"), "rm of a removed id: EINVAL");
	int id2 = msgget(key, IPC_CREAT | 0600);
	check(id2 >= 0, "a queue made through the shim");
	msgq(&r, "rm", "--key", keyarg);
	errno = 0;
	check(r.rc == 0 && msgctl(id2, IPC_STAT, &ds) == -1 && errno == EINVAL,
	      "msgq rm --key removes it (IPC_STAT: EINVAL)");
	msgq(&r, "rm", "--key", keyarg);
	check(r.rc == 1 && strstr(r.err, "no queue with key"), "rm --key of a missing key fails");

	printf("kmod_cli: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
