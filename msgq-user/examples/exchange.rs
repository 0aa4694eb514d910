//! Two unrelated processes exchanging messages through the engine's default store.
//!
//! ```text
//! exchange recv 5 &     # waits for 5 messages, replies to each, removes the queue
//! exchange send 5       # sends 5 requests and waits for each reply
//! ```
use msgq_core::abi::IPC_CREAT;
use msgq_user::Store;
use std::process::ExitCode;

const KEY: i32 = 0x6d73_6771; // "msgq"
const REQUEST: i64 = 1;
const REPLY: i64 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (role, n) = match args.as_slice() {
        [_, role, n] => (role.as_str(), n.parse::<u32>().unwrap_or(5)),
        _ => {
            eprintln!("usage: exchange send|recv COUNT");
            return ExitCode::from(2);
        }
    };
    let store = match Store::open_default() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("exchange: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pid = std::process::id();
    let q = match store.msgget(KEY, IPC_CREAT | 0o600) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("exchange: msgget: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buf = [0u8; 256];
    for i in 1..=n {
        let r = if role == "send" {
            let text = format!("request {i} from pid {pid}");
            store.send(q, REQUEST, text.as_bytes(), 0).and_then(|()| {
                let (_, len) = store.receive(q, &mut buf, REPLY, 0)?;
                println!(
                    "[sender {pid}] sent {text:?}, got {:?}",
                    String::from_utf8_lossy(&buf[..len])
                );
                Ok(())
            })
        } else {
            store.receive(q, &mut buf, REQUEST, 0).and_then(|(_, len)| {
                let got = String::from_utf8_lossy(&buf[..len]).into_owned();
                let reply = format!("reply {i} from pid {pid}");
                store.send(q, REPLY, reply.as_bytes(), 0)?;
                println!("[receiver {pid}] got {got:?}, replied");
                Ok(())
            })
        };
        if let Err(e) = r {
            eprintln!("exchange: {e}");
            return ExitCode::FAILURE;
        }
    }
    if role == "recv" {
        // Wait until the sender took the last reply, then remove the queue.
        while store.stat(q).map(|d| d.msg_qnum).unwrap_or(0) > 0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = store.remove(q);
    }
    ExitCode::SUCCESS
}
