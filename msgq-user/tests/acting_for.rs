//! `acting_for`: a call made for another process (`msgq run`'s supervisor) is checked with
//! that process's credentials and records its pid; the thread's own identity comes back
//! afterwards.

use msgq_user::abi::{IPC_CREAT, IPC_NOWAIT};
use msgq_user::sys::creds::Creds;
use msgq_user::{acting_for, Errno, Store, StoreOptions};

#[test]
fn calls_made_for_another_process() {
    let s = Store::in_memory(&StoreOptions::default()).unwrap();
    let me = Creds::read();
    let id = s.msgget(0x1234, IPC_CREAT | 0o600).unwrap();
    let stranger = Creds {
        euid: me.euid.wrapping_add(1000),
        egid: me.egid.wrapping_add(1000),
        fsgid: me.fsgid.wrapping_add(1000),
        groups: vec![],
        caps: 0,
    };
    let r = acting_for(stranger.clone(), 4242, 4243, || {
        s.send(id, 1, b"x", IPC_NOWAIT)
    });
    assert_eq!(r, Err(Errno::EACCES));
    let mut buf = [0u8; 8];
    let r = acting_for(stranger, 4242, 4243, || {
        s.receive(id, &mut buf, 0, IPC_NOWAIT)
    });
    assert_eq!(r, Err(Errno::EACCES));

    acting_for(me.clone(), 4242, 4243, || s.send(id, 1, b"x", 0)).unwrap();
    assert_eq!(s.stat(id).unwrap().msg_lspid, 4242);
    acting_for(me, 5252, 5253, || s.receive(id, &mut buf, 0, 0)).unwrap();
    assert_eq!(s.stat(id).unwrap().msg_lrpid, 5252);

    // Outside, the thread is itself again.
    s.send(id, 1, b"y", 0).unwrap();
    assert_eq!(s.stat(id).unwrap().msg_lspid, std::process::id() as i32);
}

#[test]
fn nested_and_unwinding_calls_restore_the_identity() {
    let s = Store::in_memory(&StoreOptions::default()).unwrap();
    let id = s.msgget(0x99, IPC_CREAT | 0o600).unwrap();
    let me = Creds::read();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        acting_for(me.clone(), 7, 7, || panic!("inside"))
    }));
    assert!(r.is_err());
    acting_for(me.clone(), 11, 11, || {
        acting_for(me.clone(), 12, 12, || s.send(id, 1, b"a", 0)).unwrap();
        assert_eq!(s.stat(id).unwrap().msg_lspid, 12);
        s.send(id, 1, b"b", 0).unwrap();
        assert_eq!(s.stat(id).unwrap().msg_lspid, 11);
    });
    s.send(id, 1, b"c", 0).unwrap();
    assert_eq!(s.stat(id).unwrap().msg_lspid, std::process::id() as i32);
}
