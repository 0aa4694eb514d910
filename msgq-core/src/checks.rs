//! The argument checks of the four calls that come before any queue is looked up, in the
//! kernel's order. Copy-in steps sit between them and belong to each backend.

use crate::abi::*;
use crate::errno::Errno;

/// msgsnd step 2 and 3, after mtype was read: size, msqid, then mtype.
pub const fn msgsnd_args(msqid: i32, msgsz: usize, mtype: i64, msgmax: u32) -> Result<(), Errno> {
    if msgsz > msgmax as usize || (msgsz as i64) < 0 || msqid < 0 {
        return Err(Errno::EINVAL);
    }
    if mtype < 1 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// msgrcv step 1 and 2a (before the MSG_COPY buffer is read).
pub const fn msgrcv_args(msqid: i32, msgsz: usize, msgflg: i32) -> Result<(), Errno> {
    if msqid < 0 || (msgsz as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    if msgflg & MSG_COPY != 0 && (msgflg & MSG_EXCEPT != 0 || msgflg & IPC_NOWAIT == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Bytes `MSG_COPY` reads from the start of the user buffer (mtype included) before the
/// lookup: `min(msgsz, msgmax)`; so a zero `msgsz` reads nothing.
pub const fn msg_copy_probe_len(msgsz: usize, msgmax: u32) -> usize {
    if msgsz < msgmax as usize {
        msgsz
    } else {
        msgmax as usize
    }
}

/// A `msgctl` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Rmid,
    Set,
    Stat,
    Info,
    MsgStat,
    MsgInfo,
    MsgStatAny,
}

/// msgctl's prologue and dispatch: `EINVAL` for a negative id or command and for any
/// unknown command (including `cmd | IPC_64`).
pub const fn msgctl_cmd(msqid: i32, cmd: i32) -> Result<Cmd, Errno> {
    if msqid < 0 || cmd < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(match cmd {
        IPC_RMID => Cmd::Rmid,
        IPC_SET => Cmd::Set,
        IPC_STAT => Cmd::Stat,
        IPC_INFO => Cmd::Info,
        MSG_STAT => Cmd::MsgStat,
        MSG_INFO => Cmd::MsgInfo,
        MSG_STAT_ANY => Cmd::MsgStatAny,
        _ => return Err(Errno::EINVAL),
    })
}

/// How many bytes of the user's buffer a command reads or writes.
pub const fn msgctl_buf_len(cmd: Cmd) -> usize {
    match cmd {
        Cmd::Rmid => 0,
        Cmd::Info | Cmd::MsgInfo => core::mem::size_of::<MsgInfo>(),
        _ => core::mem::size_of::<MsqidDs>(),
    }
}

/// The `maxsize` a blocked receiver records: `INT_MAX` with `MSG_NOERROR`, else `msgsz`.
pub const fn receiver_maxsize(msgsz: usize, msgflg: i32) -> u64 {
    if msgflg & MSG_NOERROR != 0 {
        i32::MAX as u64
    } else {
        msgsz as u64
    }
}

/// What a receive of a `size`-byte message into a `msgsz`-byte buffer does: the number of
/// bytes copied, or `E2BIG` when it is too small and `MSG_NOERROR` is not set.
pub const fn receive_len(size: u64, msgsz: usize, msgflg: i32) -> Result<usize, Errno> {
    if (msgsz as u64) < size {
        if msgflg & MSG_NOERROR == 0 {
            return Err(Errno::E2BIG);
        }
        return Ok(msgsz);
    }
    Ok(size as usize)
}

/// MSG_COPY's own size rule: the message must fit `min(msgsz, msgmax)` or it is `EINVAL`
/// (checked after the E2BIG test, which MSG_NOERROR skips).
pub const fn copy_fits(size: u64, msgsz: usize, msgmax: u32) -> Result<(), Errno> {
    let cap = if msgsz < msgmax as usize {
        msgsz as u64
    } else {
        msgmax as u64
    };
    if size > cap {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snd_order() {
        assert_eq!(msgsnd_args(-1, 0, 1, 8192), Err(Errno::EINVAL));
        assert_eq!(msgsnd_args(0, 8193, 1, 8192), Err(Errno::EINVAL));
        assert_eq!(msgsnd_args(0, usize::MAX, 1, u32::MAX), Err(Errno::EINVAL));
        assert_eq!(msgsnd_args(0, 8192, 0, 8192), Err(Errno::EINVAL));
        assert_eq!(msgsnd_args(0, 8192, i64::MAX, 8192), Ok(()));
    }

    #[test]
    fn ctl_cmds() {
        assert_eq!(msgctl_cmd(0, IPC_STAT | 0x100), Err(Errno::EINVAL));
        assert_eq!(msgctl_cmd(-1, IPC_INFO), Err(Errno::EINVAL));
        for c in [4, 5, 10, 14, -1] {
            assert_eq!(msgctl_cmd(0, c), Err(Errno::EINVAL));
        }
        assert_eq!(msgctl_cmd(0, MSG_STAT_ANY), Ok(Cmd::MsgStatAny));
    }

    #[test]
    fn receive_sizes() {
        assert_eq!(receive_len(50, 10, 0), Err(Errno::E2BIG));
        assert_eq!(receive_len(50, 10, MSG_NOERROR), Ok(10));
        assert_eq!(receive_len(4, 0, MSG_NOERROR), Ok(0));
        assert_eq!(copy_fits(20, 10, 8192), Err(Errno::EINVAL));
        assert_eq!(copy_fits(50, 100, 10), Err(Errno::EINVAL));
        assert_eq!(msgrcv_args(0, 0, MSG_COPY), Err(Errno::EINVAL));
        assert_eq!(
            msgrcv_args(0, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT),
            Err(Errno::EINVAL)
        );
        assert_eq!(msgrcv_args(0, usize::MAX, 0), Err(Errno::EINVAL));
    }
}
