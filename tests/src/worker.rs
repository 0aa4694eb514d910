//! The exec'd worker (`conformance __worker KIND PATH OP…`): an unrelated process that
//! reopens the backend and runs a small script, writing its trace to stdout.
//!
//! Ops: `get:KEY:FLG` (sets the current id), `snd:TYPE:TEXT:FLG`, `rcv:SZ:TYP:FLG`,
//! `stat`, `rmid`, `sigusr1` (install a handler with SA_RESTART).

use crate::backend;
use crate::ctx::Ctx;
use crate::trace;

fn num(s: &str) -> i64 {
    s.parse().unwrap_or_else(|_| panic!("bad number {s}"))
}

/// Runs the worker; returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    if args.len() < 2 {
        eprintln!("usage: __worker KIND PATH OP...");
        return 2;
    }
    let b = match backend::from_worker_args(&args[0], &args[1]) {
        Ok(b) => b,
        Err(e) => {
            print!("{}", trace::error_line(&e));
            return 1;
        }
    };
    let mut ctx = Ctx::new(&*b, 1);
    let mut id = -1;
    for op in &args[2..] {
        let f: Vec<&str> = op.split(':').collect();
        match f[0] {
            "get" => {
                let r = ctx.get(num(f[1]) as i32, num(f[2]) as i32);
                if let Ok(i) = r {
                    id = i;
                }
                ctx.rec("get", trace::res(&r));
            }
            "snd" => {
                let r = ctx.snd(id, num(f[1]), f[2].as_bytes(), num(f[3]) as i32);
                ctx.rec("snd", trace::unit(&r));
            }
            "rcv" => {
                let r = ctx.rcv(id, num(f[1]) as usize, num(f[2]), num(f[3]) as i32);
                ctx.rec("rcv", trace::msg(&r));
            }
            "stat" => {
                let v = match ctx.stat(id) {
                    Ok(d) => format!("qnum={} cbytes={}", d.msg_qnum, d.msg_cbytes),
                    Err(e) => e.name().into(),
                };
                ctx.rec("stat", v);
            }
            "rmid" => {
                let r = ctx.rmid(id);
                ctx.rec("rmid", trace::res(&r));
            }
            "sigusr1" => crate::procs::install_sigusr1(true),
            other => ctx.rec("bad-op", other),
        }
    }
    ctx.done();
    0
}
