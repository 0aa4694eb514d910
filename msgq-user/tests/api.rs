//! The Rust API end to end, in one process and across threads.

use msgq_core::abi::*;
use msgq_user::{Errno, Store, StoreOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod common;

/// A store file of its own, already unlinked (the mapping keeps it).
fn store(name: &str) -> Store {
    let (p, s) = common::scratch_store(name, 64 << 20);
    let _ = std::fs::remove_file(&p);
    s
}

#[test]
fn send_receive_fifo_and_types() {
    let s = store("fifo");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    for (t, txt) in [(5, "a"), (3, "b"), (7, "c"), (3, "d"), (1, "e"), (2, "f")] {
        s.send(q, t, txt.as_bytes(), 0).unwrap();
    }
    let mut buf = [0u8; 16];
    let mut rcv = |typ: i64, flg: i32| {
        s.receive(q, &mut buf, typ, flg)
            .map(|(t, n)| (t, String::from_utf8_lossy(&buf[..n]).into_owned()))
    };
    assert_eq!(rcv(-4, 0).unwrap(), (1, "e".into()));
    assert_eq!(rcv(-4, 0).unwrap(), (2, "f".into()));
    assert_eq!(rcv(-4, 0).unwrap(), (3, "b".into()));
    assert_eq!(rcv(5, MSG_EXCEPT).unwrap(), (7, "c".into()));
    assert_eq!(rcv(-1, IPC_NOWAIT), Err(Errno::ENOMSG));
    assert_eq!(rcv(3, MSG_EXCEPT).unwrap(), (5, "a".into()));
    assert_eq!(rcv(3, 0).unwrap(), (3, "d".into()));
    let ds = s.stat(q).unwrap();
    assert_eq!((ds.msg_qnum, ds.msg_cbytes), (0, 0));
    assert_eq!(s.check().unwrap().queues, 1);
}

#[test]
fn quota_counts_messages_against_bytes() {
    let s = store("quota");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 3;
    s.set(q, &ds).unwrap();
    for _ in 0..3 {
        s.send(q, 1, b"", IPC_NOWAIT).unwrap();
    }
    assert_eq!(s.send(q, 1, b"", IPC_NOWAIT), Err(Errno::EAGAIN));
}

#[test]
fn blocked_receiver_gets_hand_off_and_rmid_wakes() {
    let s = Arc::new(store("handoff"));
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let s2 = s.clone();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        s2.receive(q, &mut buf, 2, 0)
            .map(|(t, n)| (t, buf[..n].to_vec()))
    });
    std::thread::sleep(Duration::from_millis(50));
    s.send(q, 1, b"one", 0).unwrap();
    s.send(q, 2, b"two", 0).unwrap();
    assert_eq!(t.join().unwrap(), Ok((2, b"two".to_vec())));
    assert_eq!(s.stat(q).unwrap().msg_qnum, 1);
    let s3 = s.clone();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        s3.receive(q, &mut buf, 9, 0)
    });
    std::thread::sleep(Duration::from_millis(50));
    s.remove(q).unwrap();
    assert_eq!(t.join().unwrap(), Err(Errno::EIDRM));
    assert_eq!(s.stat(q), Err(Errno::EINVAL));
}

#[test]
fn blocked_sender_wakes_when_space_frees() {
    let s = Arc::new(store("sender"));
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 10;
    s.set(q, &ds).unwrap();
    s.send(q, 1, &[1; 8], 0).unwrap();
    let s2 = s.clone();
    let t = std::thread::spawn(move || s2.send(q, 1, &[2; 8], 0));
    std::thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 8];
    assert_eq!(s.receive(q, &mut buf, 0, 0), Ok((1, 8)));
    assert_eq!(t.join().unwrap(), Ok(()));
    assert_eq!(s.receive(q, &mut buf, 0, 0), Ok((1, 8)));
    assert_eq!(buf, [2; 8]);
    let r = s.check().unwrap();
    assert_eq!((r.queues, r.messages, r.waiters), (1, 0, 0));
}

#[test]
fn ids_cycle_and_keys() {
    let s = store("ids");
    let mut ids = vec![];
    for _ in 0..70 {
        let id = s.msgget(IPC_PRIVATE, 0).unwrap();
        ids.push(id);
        s.remove(id).unwrap();
    }
    assert_eq!(ids[63], 63);
    assert_eq!(ids[64], 32768);
    let a = s.msgget(-2, IPC_CREAT | 0o600).unwrap();
    assert_eq!(s.msgget(-2, 0), Ok(a));
    assert_eq!(s.msgget(-2, IPC_CREAT | IPC_EXCL), Err(Errno::EEXIST));
    s.remove(a).unwrap();
    assert_eq!(s.msgget(-2, 0), Err(Errno::ENOENT));
    let text = s.proc_sysvipc_msg().unwrap();
    assert!(text.starts_with("       key      msqid perms"));
}

#[test]
fn raw_msg_copy_with_zero_size_reads_nothing() {
    let s = store("copy0");
    // SAFETY: a fresh PROT_NONE page of our own.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    // SAFETY: `p` is a PROT_NONE page of our own: every access is EFAULT.
    let r = unsafe { msgq_user::raw::msgrcv(&s, 12345, p, 0, 0, MSG_COPY | IPC_NOWAIT) };
    assert_eq!(r, Err(Errno::EINVAL));
    // SAFETY: as above.
    let r = unsafe { msgq_user::raw::msgrcv(&s, 12345, p, 100, 0, MSG_COPY | IPC_NOWAIT) };
    assert_eq!(r, Err(Errno::EFAULT));
}

#[test]
fn foreign_or_damaged_files_are_refused_by_name() {
    let p = PathBuf::from(format!("/dev/shm/msgq-test-foreign-{}", std::process::id()));
    std::fs::write(&p, vec![0x5a; 4 << 20]).unwrap();
    let e = Store::open(&p)
        .err()
        .expect("a file of garbage must be refused");
    assert!(e.to_string().contains(&*p.to_string_lossy()), "{e}");
    assert!(e.to_string().contains("not a msgq store"), "{e}");
    std::fs::write(&p, b"tiny").unwrap();
    assert!(Store::open(&p).is_err());
    // A real store whose version word was changed.
    let _ = std::fs::remove_file(&p);
    drop(
        Store::create(
            &p,
            &StoreOptions {
                size: 8 << 20,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    // The file is sparse and large (a shard per queue index): change the one byte in place.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, 8).unwrap();
        f.write_all_at(&[b[0] ^ 0xff], 8).unwrap();
    }
    let e = Store::open(&p)
        .err()
        .expect("another version must be refused");
    assert!(e.to_string().contains("another version"), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("msgq --store {} remove-store", p.display())),
        "{e}"
    );
    let _ = std::fs::remove_file(&p);
}

#[test]
fn emptied_type_records_are_kept_one_per_queue() {
    let s = store("spare");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut buf = [0u8; 8];
    // One type, emptied and refilled: its record is the queue's spare and is reused.
    for _ in 0..100 {
        s.send(q, 4, b"x", 0).unwrap();
        assert_eq!(s.receive(q, &mut buf, 4, 0).unwrap(), (4, 1));
        assert_eq!(s.check().unwrap().type_records, 1);
    }
    // Many types used once: memory stays bounded at the one spare.
    for t in 1..=500 {
        s.send(q, t, b"y", 0).unwrap();
        assert_eq!(s.receive(q, &mut buf, -t, 0).unwrap(), (t, 1));
    }
    assert_eq!(s.check().unwrap().type_records, 1);
    // Types with messages all have records; selection still sees only non-empty types.
    for t in [9, 3, 6] {
        s.send(q, t, b"z", 0).unwrap();
    }
    assert_eq!(s.check().unwrap().type_records, 4);
    assert_eq!(s.receive(q, &mut buf, -500, 0).unwrap(), (3, 1));
    assert_eq!(s.receive(q, &mut buf, 500, MSG_EXCEPT).unwrap(), (9, 1));
    assert_eq!(s.receive(q, &mut buf, -5, IPC_NOWAIT), Err(Errno::ENOMSG));
    assert_eq!(s.receive(q, &mut buf, 0, 0).unwrap(), (6, 1));
    assert_eq!(s.check().unwrap().type_records, 1);
    // Removal frees the spare with the queue.
    s.remove(q).unwrap();
    let r = s.check().unwrap();
    assert_eq!((r.queues, r.type_records), (0, 0));
}

#[test]
fn type_hash_grows_with_distinct_types() {
    let s = store("grow");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    // Past every growth step (64 -> 256 -> 1024 -> 4096 buckets) and beyond the largest.
    // Empty texts: the queue's byte quota (msgmnb) would not hold 10,000 non-empty ones.
    let n = 10_000i64;
    for t in (1..=n).rev() {
        s.send(q, t, b"", IPC_NOWAIT).unwrap();
    }
    let r = s.check().unwrap();
    assert_eq!((r.messages, r.type_records), (n as u64, n as u64));
    let mut buf = [0u8; 8];
    // Every type is still found, in every mode, after the rehashes.
    for t in (1..=n).step_by(7) {
        assert_eq!(s.receive(q, &mut buf, t, 0).unwrap(), (t, 0));
    }
    assert_eq!(s.receive(q, &mut buf, -1, IPC_NOWAIT), Err(Errno::ENOMSG));
    assert_eq!(s.receive(q, &mut buf, -2, 0).unwrap(), (2, 0));
    assert_eq!(s.receive(q, &mut buf, n, MSG_EXCEPT).unwrap(), (n - 1, 0));
    s.check().unwrap();
    while s.receive(q, &mut buf, 0, IPC_NOWAIT).is_ok() {}
    assert_eq!(s.check().unwrap().type_records, 1);
    s.remove(q).unwrap();
}

#[test]
fn errno_is_an_error_and_an_io_error() {
    fn empty_queue() -> Result<(), Box<dyn std::error::Error>> {
        let s = store("errno-box");
        let q = s.msgget(IPC_PRIVATE, 0o600)?;
        let mut buf = [0u8; 8];
        s.receive(q, &mut buf, 0, IPC_NOWAIT)?;
        Ok(())
    }
    let e = empty_queue().unwrap_err();
    assert_eq!(e.downcast_ref::<Errno>(), Some(&Errno::ENOMSG));
    assert_eq!(e.to_string(), "ENOMSG (42)");

    fn io_call() -> std::io::Result<()> {
        let s = store("errno-io");
        let q = s.msgget(IPC_PRIVATE, 0o600)?;
        s.send(q, 0, b"x", 0)?;
        Ok(())
    }
    let e = io_call().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e: std::io::Error = Errno::EAGAIN.into();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
}
