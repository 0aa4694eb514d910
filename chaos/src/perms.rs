//! Permission tests across uids (run as root): queues of mode 0600 are closed to other
//! users, IPC_SET/IPC_RMID by non-owners fail with EPERM, and the default store file is
//! per user and mode 0600, so another user can neither open it nor see its queues.

use msgq_core::abi::*;
use msgq_core::Errno;
use msgq_user::{Store, StoreOptions};
use std::fmt::Debug;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::Path;

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    hostile: u64,
}

impl Tally {
    fn expect<T: Debug>(&mut self, what: &str, got: Result<T, Errno>, want: Result<(), Errno>) {
        let ok = match (&got, want) {
            (Ok(_), Ok(())) => true,
            (Err(g), Err(w)) => {
                self.hostile += 1;
                *g == w
            }
            _ => false,
        };
        self.check(what, ok, &format!("got {got:?}, want {want:?}"));
    }
    fn check(&mut self, what: &str, ok: bool, detail: &str) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            println!("perms: FAIL {what}: {detail}");
        }
    }
}

/// The SysV segments of the calling thread's namespace: (shmid, owner uid, mode).
fn segments() -> Vec<(i32, u32, u32)> {
    // SAFETY: shmid_ds is plain data; SHM_INFO and SHM_STAT_ANY write into it.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let max = unsafe { libc::shmctl(0, 14, &mut ds) };
    (0..=max)
        .filter_map(|i| {
            // SAFETY: as above (SHM_STAT_ANY = 15).
            let id = unsafe { libc::shmctl(i, 15, &mut ds) };
            (id >= 0).then_some((id, ds.shm_perm.uid, ds.shm_perm.mode as u32 & 0o777))
        })
        .collect()
}

fn become_user(uid: u32) {
    // SAFETY: plain credential system calls in a single-threaded child.
    let r = unsafe {
        libc::setgroups(0, std::ptr::null())
            | libc::setresgid(uid, uid, uid)
            | libc::setresuid(uid, uid, uid)
    };
    assert_eq!(r, 0, "cannot become uid {uid}");
    msgq_user::refresh_credentials();
}

/// Runs `f` in a forked child; its tally comes back through a pipe.
fn in_child(t: &mut Tally, f: impl FnOnce(&mut Tally)) {
    let mut fds = [0; 2];
    // SAFETY: creating a pipe into a local array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the process is single-threaded here; the child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        let mut ct = Tally::default();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut ct)));
        if r.is_err() {
            ct.failed += 1;
        }
        // SAFETY: the write end is ours.
        let mut w = unsafe { std::fs::File::from_raw_fd(fds[1]) };
        let _ = writeln!(w, "{} {} {}", ct.passed, ct.failed, ct.hostile);
        drop(w);
        let _ = std::io::stdout().flush();
        // SAFETY: leaving the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    // SAFETY: the read end is ours.
    let mut r = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let v: Vec<u64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() == 3 {
        t.passed += v[0];
        t.failed += v[1];
        t.hostile += v[2];
    } else {
        t.check("child reported", false, &format!("status {status}"));
    }
}

pub struct Outcome {
    pub passed: u64,
    pub failed: u64,
    pub hostile: u64,
}

const KA: i32 = 0x5045_0001;
const KB: i32 = 0x5045_0002;
const KC: i32 = 0x5045_0003;

pub fn run() -> Outcome {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("perms: skipped (needs root to switch uids)");
        return Outcome {
            passed: 0,
            failed: 0,
            hostile: 0,
        };
    }
    let mut t = Tally::default();
    let path = format!("/dev/shm/msgq-perms-{}", std::process::id());
    let path = Path::new(&path);
    let _ = std::fs::remove_file(path);
    let s = Store::create(
        path,
        &StoreOptions {
            size: 8 << 20,
            mode: 0o666,
            ..Default::default()
        },
    )
    .expect("create the perms store");
    let qa = s.msgget(KA, IPC_CREAT | 0o600).unwrap();
    let qb = s.msgget(KB, IPC_CREAT | 0o666).unwrap();
    s.send(qa, 1, b"root's secret", 0).unwrap();
    s.send(qb, 1, b"for anyone", 0).unwrap();
    let idx_a = qa & 0x7fff;
    let other = |t: &mut Tally, s: &Store, uid: u32| {
        let mut buf = [0u8; 64];
        let w = |e| Err(e);
        t.expect(
            &format!("uid {uid} send to 0600"),
            s.send(qa, 1, b"x", IPC_NOWAIT),
            w(Errno::EACCES),
        );
        t.expect(
            &format!("uid {uid} receive from 0600"),
            s.receive(qa, &mut buf, 0, IPC_NOWAIT),
            w(Errno::EACCES),
        );
        t.expect(
            &format!("uid {uid} MSG_COPY from 0600"),
            s.receive(qa, &mut buf, 0, IPC_NOWAIT | MSG_COPY),
            w(Errno::EACCES),
        );
        t.expect(
            &format!("uid {uid} IPC_STAT of 0600"),
            s.stat(qa),
            w(Errno::EACCES),
        );
        t.expect(
            &format!("uid {uid} MSG_STAT of 0600"),
            s.stat_index(idx_a, false),
            w(Errno::EACCES),
        );
        t.expect(
            &format!("uid {uid} MSG_STAT_ANY of 0600"),
            s.stat_index(idx_a, true),
            Ok(()),
        );
        t.expect(
            &format!("uid {uid} msgget(read) of 0600"),
            s.msgget(KA, 0o400),
            w(Errno::EACCES),
        );
        t.expect(
            &format!("uid {uid} msgget(0) of 0600"),
            s.msgget(KA, 0),
            Ok(()),
        );
        let mut d = MsqidDs::default();
        d.msg_perm.mode = 0o666;
        d.msg_qbytes = 100;
        t.expect(
            &format!("uid {uid} IPC_SET of root's 0600"),
            s.set(qa, &d),
            w(Errno::EPERM),
        );
        t.expect(
            &format!("uid {uid} IPC_RMID of root's 0600"),
            s.remove(qa),
            w(Errno::EPERM),
        );
        t.expect(
            &format!("uid {uid} send to 0666"),
            s.send(qb, 2, b"hi", IPC_NOWAIT),
            Ok(()),
        );
        t.expect(
            &format!("uid {uid} receive from 0666"),
            s.receive(qb, &mut buf, 2, IPC_NOWAIT),
            Ok(()),
        );
        t.expect(
            &format!("uid {uid} IPC_SET of root's 0666"),
            s.set(qb, &d),
            w(Errno::EPERM),
        );
        t.expect(
            &format!("uid {uid} IPC_RMID of root's 0666"),
            s.remove(qb),
            w(Errno::EPERM),
        );
    };
    // uid 1000: root's queues are closed; it makes its own 0600 queue.
    in_child(&mut t, |t| {
        become_user(1000);
        other(t, &s, 1000);
        // The store file is 0666: uid 1000 can open it itself too.
        t.check(
            "uid 1000 opens the 0666 store",
            Store::open(path).is_ok(),
            "refused",
        );
        let qc = s.msgget(KC, IPC_CREAT | 0o600);
        t.expect("uid 1000 creates its queue", qc, Ok(()));
        if let Ok(qc) = qc {
            t.expect(
                "uid 1000 sends to its queue",
                s.send(qc, 1, b"mine", 0),
                Ok(()),
            );
            let mut d = s.stat(qc).unwrap();
            d.msg_perm.mode = 0o600;
            d.msg_qbytes = 8000;
            t.expect("uid 1000 IPC_SET of its queue", s.set(qc, &d), Ok(()));
        }
    });
    // uid 1001: neither root's nor uid 1000's 0600 queue.
    in_child(&mut t, |t| {
        become_user(1001);
        other(t, &s, 1001);
        let qc = s.msgget(KC, 0).unwrap();
        let mut buf = [0u8; 64];
        t.expect(
            "uid 1001 send to uid 1000's 0600",
            s.send(qc, 1, b"x", IPC_NOWAIT),
            Err(Errno::EACCES),
        );
        t.expect(
            "uid 1001 receive from uid 1000's 0600",
            s.receive(qc, &mut buf, 0, IPC_NOWAIT),
            Err(Errno::EACCES),
        );
        t.expect(
            "uid 1001 IPC_STAT of uid 1000's 0600",
            s.stat(qc),
            Err(Errno::EACCES),
        );
        t.expect(
            "uid 1001 IPC_SET of uid 1000's",
            s.set(qc, &MsqidDs::default()),
            Err(Errno::EPERM),
        );
        t.expect(
            "uid 1001 IPC_RMID of uid 1000's",
            s.remove(qc),
            Err(Errno::EPERM),
        );
    });
    // root (CAP_IPC_OWNER, CAP_SYS_ADMIN) may do all of it.
    let qc = s.msgget(KC, 0).unwrap();
    let mut buf = [0u8; 64];
    t.expect(
        "root reads uid 1000's 0600",
        s.receive(qc, &mut buf, 0, IPC_NOWAIT),
        Ok(()),
    );
    t.expect("root stats uid 1000's 0600", s.stat(qc), Ok(()));
    t.expect("root removes uid 1000's", s.remove(qc), Ok(()));
    t.expect(
        "root receives its own",
        s.receive(qa, &mut buf, 0, IPC_NOWAIT),
        Ok(()),
    );
    drop(s);
    let _ = std::fs::remove_file(path);

    // The default store: the IPC namespace's, shared by all its users, each queue's memory a
    // SysV segment whose permissions follow the queue's (the kernel keeps others out).
    in_child(&mut t, |t| {
        // SAFETY: unshare in a single-threaded child.
        let r = unsafe { libc::unshare(libc::CLONE_NEWIPC) };
        t.check(
            "unshare(CLONE_NEWIPC)",
            r == 0,
            &std::io::Error::last_os_error().to_string(),
        );
        if r != 0 {
            return;
        }
        let s = Store::open_default().expect("root's default store");
        let q = s.msgget(KA, IPC_CREAT | 0o600).unwrap();
        s.send(q, 1, b"root's", 0).unwrap();
        let shared = s.msgget(KB, IPC_CREAT | 0o666).unwrap();
        // The namespace's segments: exactly the two queues', owned by root, modes following.
        let segs = segments();
        t.check(
            "one segment per queue, root's, modes 0600 and 0666",
            segs.len() == 2
                && segs.iter().all(|&(_, uid, _)| uid == 0)
                && segs.iter().any(|&(_, _, m)| m == 0o600)
                && segs.iter().any(|&(_, _, m)| m == 0o666),
            &format!("{segs:?}"),
        );
        in_child(t, move |t| {
            become_user(1000);
            let us = Store::open_default().expect("uid 1000's default store");
            t.check(
                "uid 1000 finds root's queues by key",
                us.msgget(KA, 0) == Ok(q) && us.msgget(KB, 0) == Ok(shared),
                "not found",
            );
            t.hostile += 1;
            t.check(
                "uid 1000 cannot receive from root's 0600 queue",
                us.receive(q, &mut [0; 16], 0, IPC_NOWAIT) == Err(Errno::EACCES),
                "not EACCES",
            );
            for (shmid, _, m) in segments() {
                if m == 0o600 {
                    t.hostile += 1;
                    // SAFETY: attaching read-only at an address of the kernel's choosing.
                    let p = unsafe { libc::shmat(shmid, std::ptr::null(), libc::SHM_RDONLY) };
                    t.check(
                        "uid 1000 cannot attach root's 0600 queue's segment",
                        p as isize == -1,
                        "attached",
                    );
                }
            }
            t.check(
                "uid 1000 uses root's 0666 queue",
                us.send(shared, 2, b"user's", IPC_NOWAIT).is_ok(),
                "send failed",
            );
        });
        t.check(
            "root's queue untouched, the shared queue holds uid 1000's message",
            s.stat(q).map(|d| d.msg_qnum) == Ok(1) && s.stat(shared).map(|d| d.msg_qnum) == Ok(1),
            "changed",
        );
        drop(s);
    });
    println!("perms: {} refused calls as expected", t.hostile);
    println!("perms: {} passed, {} failed", t.passed, t.failed);
    Outcome {
        passed: t.passed,
        failed: t.failed,
        hostile: t.hostile,
    }
}
