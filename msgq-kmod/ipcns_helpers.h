/* SPDX-License-Identifier: GPL-2.0 */
/* C helpers of msgq-kmod for IPC namespaces (ipcns.rs): the fields and inline functions
 * involved are not reachable from Rust in 7.3 (no bindings for nsproxy/ipc_namespace,
 * get_ipc_ns() and ns_ref_active_read() are inline). */
#ifndef MSGQ_IPCNS_HELPERS_H
#define MSGQ_IPCNS_HELPERS_H

#include <linux/types.h>

struct ipc_namespace;

u64 msgq_current_ipc_ns_id(void);
struct ipc_namespace *msgq_current_ipc_ns_get(u64 *id);
void msgq_ipc_ns_put(struct ipc_namespace *ns);
bool msgq_ipc_ns_active(struct ipc_namespace *ns);
pid_t msgq_current_tgid_vnr(void);
uid_t msgq_current_euid(void);

#endif
