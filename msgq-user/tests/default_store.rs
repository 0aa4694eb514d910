//! The default store through the Rust API (`Store::open_default`): the IPC namespace's
//! queues, anchored by kernel queues, each with its memory in a SysV segment whose
//! permissions follow the queue's. Each test runs in a forked child that enters a new IPC
//! namespace (root only; skipped otherwise), so the host's queues are never touched.

use msgq_core::abi::*;
use msgq_user::{Errno, Store};

/// Runs `f` in a forked child in a new IPC namespace; returns whether it passed (`None` when
/// this process may not make a namespace).
fn in_new_namespace(f: impl FnOnce()) -> Option<bool> {
    // SAFETY: fork in a test process; the child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: unshare in the child.
        if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 {
            // SAFETY: leaving the child.
            unsafe { libc::_exit(77) };
        }
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
        // SAFETY: leaving the child without running the parent's atexit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut st = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    match libc::WEXITSTATUS(st) {
        77 => None,
        code => Some(libc::WIFEXITED(st) && code == 0),
    }
}

/// The namespace's SysV segments: (shmid, owner uid, mode).
fn segments() -> Vec<(i32, u32, u32)> {
    // SAFETY: shmid_ds is plain data; SHM_INFO (14) and SHM_STAT_ANY (15) fill it.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let max = unsafe { libc::shmctl(0, 14, &mut ds) };
    (0..=max)
        .filter_map(|i| {
            // SAFETY: as above.
            let id = unsafe { libc::shmctl(i, 15, &mut ds) };
            (id >= 0).then_some((id, ds.shm_perm.uid, ds.shm_perm.mode as u32 & 0o777))
        })
        .collect()
}

/// The kernel's own view of queue `id` (its anchor), without msgq.
fn kernel_qnum(id: i32) -> Option<u64> {
    let mut ds = MsqidDs::default();
    // SAFETY: `ds` is a writable msqid64_ds; glibc's msgctl is the kernel's here (no shim).
    let r = unsafe { libc::msgctl(id, IPC_STAT, (&mut ds as *mut MsqidDs).cast()) };
    (r == 0).then_some(ds.msg_qnum)
}

fn check(r: Option<bool>) {
    match r {
        None => eprintln!("skipped: cannot make an IPC namespace (not root)"),
        Some(ok) => assert!(ok, "the child failed (see its output above)"),
    }
}

#[test]
fn queues_are_the_namespaces_with_memory_in_a_segment_per_queue() {
    check(in_new_namespace(|| {
        let s = Store::open_default().unwrap();
        assert!(s.is_default());
        assert_eq!(s.msgget(0x51, 0), Err(Errno::ENOENT));
        let q = s.msgget(0x51, IPC_CREAT | 0o640).unwrap();
        // The kernel's first id in a new namespace, and the kernel's own queue for it.
        assert_eq!(q, 0);
        assert_eq!(s.msgget(0x51, IPC_CREAT | IPC_EXCL), Err(Errno::EEXIST));
        s.send(q, 3, b"three", 0).unwrap();
        // msgq holds the message; the anchor stays empty.
        assert_eq!(kernel_qnum(q), Some(0));
        assert_eq!(s.stat(q).unwrap().msg_qnum, 1);
        let segs = segments();
        assert_eq!(segs.len(), 1, "{segs:?}");
        assert_eq!((segs[0].1, segs[0].2), (0, 0o660), "rw for owner and group");
        let r = s.check().unwrap();
        assert_eq!((r.queues, r.messages), (1, 1));
        let mut buf = [0u8; 16];
        assert_eq!(s.receive(q, &mut buf, 0, 0).unwrap(), (3, 5));
        // IPC_SET: the segment follows the queue's new mode.
        let mut ds = s.stat(q).unwrap();
        ds.msg_perm.mode = 0o604;
        s.set(q, &ds).unwrap();
        assert_eq!(segments()[0].2, 0o606);
        // Another Store of the same namespace (another process would do the same) sees it.
        let other = Store::open_default().unwrap();
        assert_eq!(other.msgget(0x51, 0), Ok(q));
        other.send(q, 1, b"x", IPC_NOWAIT).unwrap();
        assert_eq!(s.stat(q).unwrap().msg_qnum, 1);
        s.remove(q).unwrap();
        assert_eq!(kernel_qnum(q), None);
        assert_eq!(other.send(q, 1, b"x", IPC_NOWAIT), Err(Errno::EINVAL));
        drop(other);
        // The segment is destroyed once nobody has it attached.
        assert!(segments().is_empty(), "{:?}", segments());
    }));
}

#[test]
fn a_user_without_access_gets_eacces_and_no_memory() {
    check(in_new_namespace(|| {
        let s = Store::open_default().unwrap();
        let private = s.msgget(0x52, IPC_CREAT | 0o600).unwrap();
        let shared = s.msgget(0x53, IPC_CREAT | 0o666).unwrap();
        s.send(private, 1, b"secret", 0).unwrap();
        // SAFETY: fork; the child drops to nobody and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: plain credential changes in the child.
            let ok = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
            msgq_user::refresh_credentials();
            let u = Store::open_default().unwrap();
            let ok = ok
                && u.msgget(0x52, 0) == Ok(private)
                && u.receive(private, &mut [0; 16], 0, IPC_NOWAIT) == Err(Errno::EACCES)
                && u.send(shared, 2, b"hello", IPC_NOWAIT).is_ok()
                // Of the two queues' segments, nobody may attach only the 0666 queue's.
                && segments()
                    .iter()
                    .filter(|s| {
                        // SAFETY: attaching read-only at an address of the kernel's choosing.
                        let p = unsafe { libc::shmat(s.0, std::ptr::null(), libc::SHM_RDONLY) };
                        p as isize != -1
                    })
                    .count()
                    == 1;
            // SAFETY: leaving the child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut st = 0;
        // SAFETY: our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "nobody's checks failed"
        );
        assert_eq!(s.stat(shared).unwrap().msg_qnum, 1);
        assert_eq!(s.stat(private).unwrap().msg_qnum, 1);
    }));
}

#[test]
fn a_queue_removed_without_msgq_ends_its_waits_with_eidrm() {
    check(in_new_namespace(|| {
        let s = std::sync::Arc::new(Store::open_default().unwrap());
        let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
        let r = {
            let s = s.clone();
            std::thread::spawn(move || s.receive(q, &mut [0; 16], 0, 0))
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        // ipcrm without the shim: the kernel's own IPC_RMID of the anchor.
        // SAFETY: glibc's msgctl is the kernel's here; no buffer for IPC_RMID.
        assert_eq!(
            unsafe { libc::msgctl(q, IPC_RMID, std::ptr::null_mut()) },
            0
        );
        let t = std::time::Instant::now();
        assert_eq!(r.join().unwrap(), Err(Errno::EIDRM));
        assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
        // Its segment was removed (destroyed as the last process detaches it).
        drop(s);
        msgq_user::leave_namespace();
        assert!(segments().is_empty(), "{:?}", segments());
    }));
}

/// A user with read access to a queue (0644: its memory is read-write for everyone) rewrites
/// the list links inside the queue's lock while another process holds it. glibc's unlock
/// would follow them and write into the holder's own memory (found by review: X and Y
/// below were overwritten with addresses); msgq's lock never reads them back.
#[test]
fn links_written_into_a_held_lock_are_not_followed() {
    use msgq_user::engine::Shards;
    check(in_new_namespace(|| {
        let a = msgq_user::anchored::Anchored::new();
        let creds = msgq_user::sys::creds::Creds::read();
        let id = a.msgget(IPC_PRIVATE, IPC_CREAT | 0o644, &creds).unwrap();
        let sh = a.shard_of(id).unwrap();
        sh.lock.lock().unwrap();
        let x: &'static mut [u64; 8] = Box::leak(Box::new([0x1111u64; 8]));
        let y: &'static mut [u64; 8] = Box::leak(Box::new([0x2222u64; 8]));
        std::hint::black_box((&mut *x, &mut *y));
        let (xp, yp) = (x.as_mut_ptr() as u64, y.as_mut_ptr() as u64);
        // SAFETY: fork; the child drops to nobody, writes the links and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: plain calls in the child.
            unsafe {
                let ok = libc::setgid(65534) == 0 && libc::setuid(65534) == 0;
                let (shmid, _, _) = segments()[0];
                let p = libc::shmat(shmid, std::ptr::null(), 0) as *mut u8;
                if !ok || p as isize == -1 {
                    libc::_exit(1);
                }
                let m = p.add(msgq_user::shm::layout::LOCK_OFF as usize) as *mut u64;
                *m.add(3) = yp; // __list.__prev
                *m.add(4) = xp + 8; // __list.__next
                libc::_exit(0);
            }
        }
        let mut st = 0;
        // SAFETY: our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "the attacker failed"
        );
        sh.lock.unlock();
        // Read through the addresses (the compiler may assume a `&mut` unchanged).
        // SAFETY: the two leaked arrays, live for ever.
        let now =
            unsafe { [xp, xp + 8, yp, yp + 8].map(|p| std::ptr::read_volatile(p as *const u64)) };
        assert_eq!(
            now,
            [0x1111, 0x1111, 0x2222, 0x2222],
            "the holder's memory was written"
        );
        // The queue still works.
        let s = Store::open_default().unwrap();
        s.send(id, 1, b"ok", IPC_NOWAIT).unwrap();
        assert_eq!(s.receive(id, &mut [0; 8], 0, IPC_NOWAIT).unwrap(), (1, 2));
    }));
}
