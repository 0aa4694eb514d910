//! Runs one input's calls on both backends and compares them.

use crate::arena::{Arena, Ptr, RW_LEN};
use crate::calls::{kernel, Call, Outcome, MSG_STAT_ANY};
use crate::decode::{self, Id, Op, Step};
use crate::ids::IdMap;
use crate::reset::{self, remove_all};
use crate::setup::{Env, Oracle};
use std::fmt::Write;

/// Offsets in `struct msqid_ds` (x86_64) of what depends on time or on the id numbering.
const DS_LEN: usize = 120;
const DS_SEQ: usize = 24;
const DS_TIMES: [usize; 3] = [48, 56, 64];

pub struct State {
    env: Env,
    /// The kernel side's buffers, then the shim side's.
    k: Arena,
    s: Arena,
    /// `MSGQ_FUZZ_TRACE=1`: print every input's calls and results on stderr.
    trace: bool,
}

// SAFETY: the arenas are plain mappings owned by this state, used from one thread at a time
// (behind the Mutex).
unsafe impl Send for State {}

/// `int` arguments as `syscall()` passes them: `v` with `hi` in the upper half.
fn wide(v: i32, hi: u32) -> i64 {
    (i64::from(hi) << 32) | i64::from(v as u32)
}

impl State {
    pub fn new(env: Env) -> State {
        let trace = std::env::var_os("MSGQ_FUZZ_TRACE").is_some_and(|v| v == "1");
        State {
            env,
            k: Arena::new(),
            s: Arena::new(),
            trace,
        }
    }

    /// Fills the buffers a call reads (the same in both arenas) and builds each side's call.
    fn prepare(&mut self, st: &Step, ids: &IdMap) -> (Call, Call) {
        let hi = st.hi;
        let mut calls = [None, None];
        for (side, arena) in [&mut self.k, &mut self.s].into_iter().enumerate() {
            let id = |i: Id| {
                let (k, s) = ids.resolve(i);
                wide(if side == 0 { k } else { s }, hi)
            };
            let c = match st.op {
                Op::Get { key, flg } => Call::Get {
                    key: wide(key, hi),
                    flg: wide(flg, hi),
                },
                Op::Snd {
                    id: i,
                    p,
                    sz,
                    mut flg,
                    mtype,
                    fill,
                } => {
                    let a = arena.addr(p);
                    arena.put(a, &mtype.to_ne_bytes());
                    let text: Vec<u8> = (0..sz.min(RW_LEN))
                        .map(|j| fill.wrapping_add(j as u8))
                        .collect();
                    arena.put(a.wrapping_add(8), &text);
                    if !st.may_block {
                        flg |= libc::IPC_NOWAIT;
                    }
                    Call::Snd {
                        id: id(i),
                        p: a,
                        sz,
                        flg: wide(flg, hi),
                    }
                }
                Op::Rcv {
                    id: i,
                    p,
                    sz,
                    typ,
                    mut flg,
                } => {
                    // MSG_COPY without IPC_NOWAIT is EINVAL before anything can block.
                    if !st.may_block && flg & libc::MSG_COPY == 0 {
                        flg |= libc::IPC_NOWAIT;
                    }
                    Call::Rcv {
                        id: id(i),
                        p: arena.addr(p),
                        sz,
                        typ,
                        flg: wide(flg, hi),
                    }
                }
                Op::Ctl {
                    id: i,
                    cmd,
                    p,
                    set: (uid, gid, mode, qbytes),
                } => {
                    let a = arena.addr(p);
                    if cmd & 0xff == libc::IPC_SET {
                        let mut ds = [0x5au8; DS_LEN];
                        ds[4..8].copy_from_slice(&uid.to_ne_bytes());
                        ds[8..12].copy_from_slice(&gid.to_ne_bytes());
                        ds[20..24].copy_from_slice(&mode.to_ne_bytes());
                        ds[88..96].copy_from_slice(&qbytes.to_ne_bytes());
                        arena.put(a, &ds);
                    }
                    Call::Ctl {
                        id: id(i),
                        cmd: wide(cmd, hi),
                        p: a,
                    }
                }
                Op::Open {
                    how,
                    p,
                    path,
                    nul,
                    flags,
                } => {
                    let a = arena.addr(p);
                    let mut text = decode::PATHS[path as usize % decode::PATHS.len()]
                        .as_bytes()
                        .to_vec();
                    if nul {
                        text.push(0);
                    }
                    arena.put(a, &text);
                    Call::Open { how, p: a, flags }
                }
                Op::WriteLimit {
                    file,
                    p,
                    text,
                    size,
                } => {
                    let a = arena.addr(p);
                    let t = decode::LIMITS[text as usize % decode::LIMITS.len()].as_bytes();
                    // With a count of its own (0 or over 64), the text ends in a NUL, which
                    // Linux refuses after a number: no such write sets a value (the
                    // emulation refuses them all, see known.rs).
                    let mut t = t.to_vec();
                    if size.is_some() {
                        t.retain(|b| !b.is_ascii_whitespace());
                        t.push(0);
                    }
                    arena.put(a, &t);
                    let n = size.unwrap_or(t.len());
                    Call::WriteLimit {
                        file: file as usize,
                        p: a,
                        n,
                    }
                }
            };
            calls[side] = Some(c);
        }
        let [k, s] = calls;
        (k.expect("kernel call"), s.expect("shim call"))
    }

    /// Replaces what differs by nature in a `struct msqid_ds` both sides wrote at `p`.
    fn mask_stat(&mut self, p: Ptr) {
        for arena in [&mut self.k, &mut self.s] {
            let Some(o) = arena
                .rw_offset(arena.addr(p))
                .filter(|o| o + DS_LEN <= RW_LEN)
            else {
                continue;
            };
            let ds = &mut arena.rw()[o..o + DS_LEN];
            for t in DS_TIMES {
                let set = ds[t..t + 8].iter().any(|&b| b != 0);
                ds[t..t + 8].copy_from_slice(&u64::from(set).to_ne_bytes());
            }
            ds[DS_SEQ..DS_SEQ + 2].fill(0);
        }
    }

    /// Runs an input: its calls, then the removal of every queue it left.
    pub fn input(&mut self, data: &[u8]) -> Result<(), String> {
        let steps = decode::steps(data);
        for a in [&mut self.k, &mut self.s] {
            for (i, b) in a.rw().iter_mut().enumerate() {
                *b = (i * 7 + i / 4096) as u8;
            }
        }
        let mut ids = IdMap::default();
        let mut log = String::new();
        let mut result = Ok(());
        for st in &steps {
            let (kc, sc) = self.prepare(st, &ids);
            let t = &self.env.ticker;
            let shim = &self.env.shim;
            let so = t.run(st.may_block, || shim.call(&sc, st.via_syscall));
            let ko = match self.env.oracle {
                Oracle::Kernel => t.run(st.may_block, || kernel(&kc)),
                Oracle::ErrnoSets => so,
            };
            let _ = writeln!(
                log,
                "  {st:?}\n    kernel {kc:?} -> {ko:?}\n    shim   {sc:?} -> {so:?}"
            );
            if let Err(e) = self.judge(st, &ko, &so, &mut ids) {
                result = Err(format!("{e}\ncalls:\n{log}"));
                break;
            }
        }
        if steps
            .iter()
            .any(|st| matches!(st.op, Op::WriteLimit { .. }))
        {
            reset::restore_limits(&self.env);
        }
        let kq = match self.env.oracle {
            Oracle::Kernel => remove_all(kernel),
            Oracle::ErrnoSets => Ok(0),
        };
        let shim = &self.env.shim;
        let sq = remove_all(|c| shim.call(c, false));
        if self.trace {
            eprintln!("input of {} bytes:\n{log}", data.len());
        }
        result?;
        let (kq, sq) = (kq?, sq?);
        if self.env.oracle == Oracle::Kernel && kq != sq {
            return Err(format!(
                "queues left: kernel {kq}, shim {sq}\ncalls:\n{log}"
            ));
        }
        reset::next_ids(&self.env).map_err(|e| format!("{e}\ncalls:\n{log}"))
    }

    fn judge(
        &mut self,
        st: &Step,
        k: &Outcome,
        s: &Outcome,
        ids: &mut IdMap,
    ) -> Result<(), String> {
        if s.ret == -1 && s.errno == libc::EIO {
            return Err("EIO from the shim: a panic inside it (see its message above)".into());
        }
        let returns_id = match st.op {
            Op::Get { .. } => true,
            Op::Ctl { cmd, .. } => cmd == libc::MSG_STAT || cmd == MSG_STAT_ANY,
            _ => false,
        };
        if self.env.oracle == Oracle::ErrnoSets {
            if returns_id && s.ret >= 0 {
                ids.pair(s.ret as i32, s.ret as i32)?;
            }
            return errno_allowed(&st.op, s);
        }
        if returns_id && k.ret >= 0 && s.ret >= 0 {
            ids.pair(k.ret as i32, s.ret as i32)?;
        } else if k != s && !crate::known::accepted(&st.op, k, s) {
            return Err(format!("results differ: kernel {k:?}, shim {s:?}"));
        }
        if let Op::Ctl {
            id,
            cmd: libc::IPC_RMID,
            ..
        } = st.op
        {
            if k.ret == 0 {
                ids.forget(ids.resolve(id).0);
            }
        }
        if k.ret == -1 && k.errno == libc::EFAULT {
            // Declared divergence: after EFAULT the buffer holds whatever part of the copy
            // preceded the fault (the kernel copies in its own chunks); not compared.
            self.s.rw().copy_from_slice(self.k.rw());
            return Ok(());
        }
        if let Op::Ctl { cmd, p, .. } = st.op {
            if k.ret >= 0 && matches!(cmd, libc::IPC_STAT | libc::MSG_STAT | MSG_STAT_ANY) {
                self.mask_stat(p);
            }
        }
        let (kb, sb) = (self.k.rw(), self.s.rw());
        if kb == sb {
            return Ok(());
        }
        if let Some(o) = kb.iter().zip(sb.iter()).position(|(a, b)| a != b) {
            let end = (o + 16).min(RW_LEN);
            return Err(format!(
                "buffers differ at offset {o}: kernel {:02x?}, shim {:02x?}",
                &kb[o..end],
                &sb[o..end]
            ));
        }
        Ok(())
    }
}

/// Without the kernel to compare with: the errnos each call can give.
fn errno_allowed(op: &Op, o: &Outcome) -> Result<(), String> {
    use libc::*;
    if o.ret != -1 {
        return Ok(());
    }
    let allowed: &[i32] = match op {
        Op::Get { .. } => &[EACCES, EEXIST, ENOENT, ENOSPC, ENOMEM],
        Op::Snd { .. } => &[EACCES, EAGAIN, EFAULT, EIDRM, EINTR, EINVAL, ENOMEM],
        Op::Rcv { .. } => &[E2BIG, EACCES, EFAULT, EIDRM, EINTR, EINVAL, ENOMSG, ENOSYS],
        Op::Ctl { .. } => &[EACCES, EFAULT, EIDRM, EINVAL, EPERM],
        Op::WriteLimit { .. } => &[EFAULT, EINVAL, ENOMEM],
        Op::Open { .. } => &[
            EACCES,
            EBADF,
            EFAULT,
            EINVAL,
            EISDIR,
            ENAMETOOLONG,
            ENOENT,
            ENOTDIR,
            ELOOP,
        ],
    };
    if allowed.contains(&o.errno) {
        Ok(())
    } else {
        Err(format!(
            "{op:?}: errno {} is not one this call gives",
            o.errno
        ))
    }
}
