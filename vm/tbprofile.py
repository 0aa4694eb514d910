#!/usr/bin/env python3
"""Instruction profile of the guest kernel per operation, from vm/tbcount.c's counts.

Usage: vm/tbprofile.py KDIR N BASE.out BASE.log RUN.out RUN.log [RUN.out RUN.log ...]
  KDIR: the kernel tree (its System.map; the test kernel has no KASLR); N: the operations
  each RUN made more than BASE (the same guest with the loop at 0 iterations); each .log is
  the guest's console output, whose `@@KSYM ADDR NAME` lines (kmod-probe --ksyms) give the
  module's symbols of that boot. Prints, per run, the guest kernel instructions per
  operation (RUN minus BASE, divided by N) grouped by what they do, then the top functions.
Used by `make bench-guest-profile` (mk/bench-guest.mk; docs/kmod.md).
"""
import bisect
import collections
import os
import re
import subprocess
import sys

# Loops whose instruction count depends on time, not on the work (boot-time delay
# calibration, spinning on a contended lock, waiting for another CPU): left out, printed apart.
WAITING = re.compile(r"^(.*calibrate.*|delay_loop|delay_tsc|delay_read_timer|__const_udelay|__udelay|"
                     r"queued_spin_lock_slowpath|native_queued_spin_lock_slowpath|"
                     r"smp_call_function_many_cond|csd_lock_wait|cpu_relax)$")

GROUPS = [
    ("system call entry and exit",
     r"^(entry_SYSCALL_64|do_syscall_64|syscall_return_via_sysret|x64_sys_call|__x64_sys_msg(snd|rcv)$)"),
    ("ioctl: VFS and the misc device's Rust glue",
     r"(__x64_sys_ioctl|__fget_light|fdget|MiscdeviceVTable|security_file_ioctl|do_vfs_ioctl)"),
    ("ioctl: the module's dispatch (struct copy, version, namespace check)",
     r"(MsgqFile as kernel::miscdevice::MiscDevice>::ioctl|msgq_main::device::ioctl|msgq_current_ipc_ns_id|is_current)"),
    ("user copies",
     r"(_copy_from_user|_copy_to_user|read_all|read_raw|write_slice|UserSlice|load_msg|store_msg|MsgBuf>::read_user|"
     r"do_msg_fill|__get_user|__put_user|__access_ok)"),
    ("allocation and free",
     r"(alloc|slab|kfree|krealloc|kvrealloc|KVmalloc|Kmalloc|aligned_layout|is_vmalloc_addr|MsgBuf|"
     r"kmalloc|free_to|page_slab|Vec<u8.*(reserve|with_capacity|Drop)|dangling_from_layout|"
     r"ArrayLayout|Layout as core::convert::From|drop_in_place::<kernel::alloc::kvec::Vec<u8)"),
    ("queue and id look-up, permission",
     r"(lookup|ipcperms|radix_tree|idr_find|ipc_obtain|from_kuid|current_euid|map_id)"),
    ("message store (FIFO, per-type index)",
     r"(Messages>::|RBTree|rb_erase|rb_insert|rb_link|rb_next|rb_first|__rb_|testmsg|Slot)"),
    ("pids and times",
     r"(pid_nr|task_pid|ipc_update_pid|ktime|current_tgid|current_tid|task_active_pid_ns|tgid_vnr)"),
    ("locks", r"(spin|mutex|_lock|_unlock|rcu|preempt)"),
    ("accounting", r"(percpu_counter|account)"),
    ("msgsnd/msgrcv themselves, hand-off, wake-ups",
     r"(Namespace>::(msgsnd|msgrcv|send|recv)$|ksys_msg(snd|rcv)|do_msg(snd|rcv)|pipelined|wake_senders|"
     r"ss_wakeup|wake_up_q|free_msg|notify_pollers|Queue>::|Msg>::)"),
]


def symbols(kdir, log):
    syms = []
    with open(os.path.join(kdir, "System.map")) as f:
        for line in f:
            a, t, n = line.split()[:3]
            if t in "TtWw":
                syms.append((int(a, 16), n))
    with open(log, errors="replace") as f:
        for line in f:
            m = re.match(r"@@KSYM ([0-9a-f]+) (\S+)", line)
            if m:
                syms.append((int(m.group(1), 16), "[msgq] " + m.group(2)))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def counts(out, kdir, log):
    addrs, names = symbols(kdir, log)
    c = collections.Counter()
    with open(out) as f:
        for line in f:
            va, n, cnt = line.split()
            i = bisect.bisect_right(addrs, int(va, 16)) - 1
            c[names[i] if i >= 0 else "?"] += int(n) * int(cnt)
    return c


def demangle(names):
    raw = [n.removeprefix("[msgq] ") for n in names]
    try:
        out = subprocess.run(["c++filt"], input="\n".join(raw), capture_output=True,
                             text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        out = raw
    return {n: ("[msgq] " if n.startswith("[msgq] ") else "") + re.sub(r"\[[0-9a-f]{16}\]", "", d)
            for n, d in zip(names, out)}


def main():
    kdir, n = sys.argv[1], int(sys.argv[2])
    files = sys.argv[3:]
    base = counts(files[0], kdir, files[1])
    tables, tops = {}, {}
    waiting = collections.Counter()
    for out, log in zip(files[2::2], files[3::2]):
        c = counts(out, kdir, log)
        # Functions are matched by name: the module's addresses differ between boots.
        per = {s: (c[s] - base.get(s, 0)) / n for s in c}
        dm = demangle(list(per))
        g = collections.Counter()
        for s, v in per.items():
            if v <= 0:
                continue
            if WAITING.match(s):
                waiting[os.path.basename(out).removesuffix(".out")] += v
                continue
            g[next((gn for gn, rx in GROUPS if re.search(rx, dm[s])), "other")] += v
        name = os.path.basename(out).removesuffix(".out")
        tables[name] = g
        tops[name] = sorted(((v, dm[s]) for s, v in per.items()
                             if v > 0 and not WAITING.match(s)), reverse=True)[:int(os.environ.get("TOP", "25"))]
    runs = list(tables)
    print("| guest kernel instructions per operation | " + " | ".join(runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for gn in [g for g, _ in GROUPS] + ["other"]:
        print(f"| {gn} | " + " | ".join(f"{tables[r][gn]:.0f}" for r in runs) + " |")
    print("| **total** | " + " | ".join(f"**{sum(tables[r].values()):.0f}**" for r in runs) + " |")
    print("| (left out: busy-waiting, boot calibration) | "
          + " | ".join(f"{waiting[r]:.0f}" for r in runs) + " |")
    for r in runs:
        print(f"\ntop functions, {r}:")
        for v, d in tops[r]:
            print(f"{v:8.1f}  {d[:140]}")


if __name__ == "__main__":
    main()
