//! What ends each input: the limits put back, every queue removed, and the next queue id
//! compared.

use crate::calls::{kernel, Call, Outcome, MSG_STAT_ANY};
use crate::setup::{Env, Oracle};

/// Puts the limits back to a fresh namespace's (what a store starts with too). A
/// `msg_next_id` that was set cannot be written back to -1: the queue [`next_ids`]
/// makes uses it up.
pub fn restore_limits(env: &Env) {
    for (file, value) in ["8192", "16384", "32000"].into_iter().enumerate() {
        let mut v = value.as_bytes().to_vec();
        let (kp, sp) = (v.as_mut_ptr() as usize, v.as_ptr() as usize);
        let c = |p| Call::WriteLimit {
            file,
            p,
            n: value.len(),
        };
        if env.oracle == Oracle::Kernel {
            kernel(&c(kp));
        }
        env.shim.call(&c(sp), false);
    }
}

/// Makes and removes one queue on each side: the ids must be equal (both allocate as
/// Linux does), so an input that leaves the two id allocators in different states
/// fails itself instead of a later input.
pub fn next_ids(env: &Env) -> Result<(), String> {
    let get = Call::Get {
        key: 0,
        flg: i64::from(libc::IPC_CREAT),
    };
    let rm = |id| Call::Ctl {
        id,
        cmd: libc::IPC_RMID.into(),
        p: 0,
    };
    let shim = &env.shim;
    let s = shim.call(&get, false).ret;
    shim.call(&rm(s), false);
    if env.oracle == Oracle::Kernel {
        let k = kernel(&get).ret;
        kernel(&rm(k));
        if k != s {
            return Err(format!("next queue id: kernel {k}, shim {s}"));
        }
    }
    Ok(())
}

/// Removes every queue of one backend (by index with `MSG_STAT_ANY`); returns how many.
pub fn remove_all(call: impl Fn(&Call) -> Outcome) -> Result<usize, String> {
    let mut buf = [0u8; 128];
    let p = buf.as_mut_ptr() as usize;
    let max = call(&Call::Ctl {
        id: 0,
        cmd: libc::MSG_INFO.into(),
        p,
    })
    .ret;
    let mut n = 0;
    for idx in 0..=max.max(0) {
        let r = call(&Call::Ctl {
            id: idx,
            cmd: MSG_STAT_ANY.into(),
            p,
        });
        if r.ret >= 0 {
            call(&Call::Ctl {
                id: r.ret,
                cmd: libc::IPC_RMID.into(),
                p: 0,
            });
            n += 1;
        }
    }
    call(&Call::Ctl {
        id: 0,
        cmd: libc::MSG_INFO.into(),
        p,
    });
    let in_use = i32::from_ne_bytes(buf[..4].try_into().expect("4 bytes"));
    if in_use != 0 {
        return Err(format!("{in_use} queues still in use after removing {n}"));
    }
    Ok(n)
}
