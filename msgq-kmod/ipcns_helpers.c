// SPDX-License-Identifier: GPL-2.0
/*
 * IPC namespace helpers for msgq-kmod (see ipcns.rs and docs/kmod.md, "Namespaces").
 *
 * A task's own nsproxy can be read without locks: only the task itself replaces it
 * (unshare, setns, exit), and it is never NULL while the task makes a system call.
 */
#include <linux/cred.h>
#include <linux/ipc_namespace.h>
#include <linux/ns_common.h>
#include <linux/nsproxy.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>

#include "ipcns_helpers.h"

/* The calling task's IPC namespace, or NULL (a task past exit_task_namespaces()). */
static struct ipc_namespace *current_ipc_ns(void)
{
	struct nsproxy *nsp = current->nsproxy;

	return nsp ? nsp->ipc_ns : NULL;
}

/* The unique id (ns_id, never reused) of the caller's IPC namespace; 0 if it has none. */
u64 msgq_current_ipc_ns_id(void)
{
	struct ipc_namespace *ns = current_ipc_ns();

	return ns ? ns->ns.ns_id : 0;
}

/*
 * The caller's process id as its own pid namespace sees it: task_tgid_vnr(current) (not an
 * IPC namespace helper, but the module's one other C helper; caller.rs). A task of the initial
 * pid namespace (its pid's level is 0) sees the global number, current->tgid, which is read
 * without __task_pid_nr_ns()'s namespace look-up (about 35 instructions a call, made by
 * every send and receive for lspid and lrpid). The caller is alive, so its pid is set.
 */
pid_t msgq_current_tgid_vnr(void)
{
	struct pid *pid = task_pid(current);

	if (pid && pid->level == 0)
		return current->tgid;
	return task_tgid_vnr(current);
}

/*
 * The caller's effective uid as its user namespace sees it: from_kuid(current_user_ns(),
 * current_euid()), which caller.rs's Kuid calls made through three helper calls.
 */
uid_t msgq_current_euid(void)
{
	return from_kuid(current_user_ns(), current_euid());
}

/* A main (memory) reference on the caller's IPC namespace, and its ns_id in *id. */
struct ipc_namespace *msgq_current_ipc_ns_get(u64 *id)
{
	struct ipc_namespace *ns = current_ipc_ns();

	if (!ns)
		return NULL;
	/* The caller's nsproxy holds a reference, so the count is not zero. */
	get_ipc_ns(ns);
	*id = ns->ns.ns_id;
	return ns;
}

/* Drops a reference taken by msgq_current_ipc_ns_get(); may free the namespace. */
void msgq_ipc_ns_put(struct ipc_namespace *ns)
{
	put_ipc_ns(ns);
}

/*
 * Whether the namespace still has active users: tasks (through their nsproxy), open nsfs
 * files or bind mounts. An inactive IPC namespace cannot be entered again (nsfs file
 * handles refuse inactive namespaces), so it is dead for userspace; the kernel frees its
 * own queues when the last main reference goes, which these active users held.
 */
bool msgq_ipc_ns_active(struct ipc_namespace *ns)
{
	return ns_ref_active_read(ns) > 0;
}
