//! `msgq`: see and manage msgq's message queues, as `ipcs`/`ipcmk`/`ipcrm` do for the
//! kernel's. Every command works on one backend, chosen as the shim chooses
//! ([`backend::choose`]): the userspace store (`--store PATH`, else `$MSGQ_STORE`, else the
//! default store of this IPC namespace and user) or the kernel module (`/dev/msgq`).

mod backend;
mod columns;
mod commands;
mod kmodq;
mod report;
mod run;
mod store;
mod storeq;
mod valkeyq;

use backend::{Choice, Target};
use clap::{ArgGroup, Args, Parser, Subcommand};
use commands::{QueueArg, RecvOpts, SendOpts};
use msgq_user::{ext, Sysctl};
use report::{out, Fail, R};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "msgq",
    version,
    about = "See and manage msgq's System V message queues (userspace store or kernel module)",
    long_about = "See and manage msgq's System V message queues.\n\n\
        msgq keeps queues either in userspace (the user backend: by default the IPC \
        namespace's default store, shared by all its users; or a store file given by --store \
        or $MSGQ_STORE), or in the msgq kernel module (the kmod backend, \
        /dev/msgq). The backend is chosen as libmsg_shim.so chooses it: --backend, else \
        $MSGQ_BACKEND (user or kmod), else kmod when /dev/msgq exists and user otherwise; \
        --store alone selects the user backend. This command lists, shows, creates and \
        removes queues, sends and receives messages (text, or bytes exactly with --file and --raw), shows and sets the limits (msgmax, \
        msgmnb, msgmni, msg_next_id; the module's need CAP_SYS_ADMIN to set), and, for a \
        store, checks its integrity and removes it.\n\n\
        It also offers msgq's extensions (docs/extensions.md), on both backends: send and \
        receive with a timeout (--timeout), urgent, overwriting and broadcast sends, peeking \
        receives, purging a queue and aborting its blocked callers.\n\n\
        Queue ids and keys are those programs see. Keys are decimal, or hexadecimal with 0x. \
        Errors name the errno Linux gives (EPERM, EACCES, ENOENT...).",
    after_help = "Examples:\n  \
        msgq mk --key 0x1234            create a queue, print its id\n  \
        msgq send 0 'hello' --type 2    send a text message\n  \
        msgq recv 0                     receive the first message and print its text\n  \
        msgq recv 0 --timeout 2s        wait at most 2 seconds (ETIMEDOUT)\n  \
        msgq send 0 now --urgent        send to the front of the queue\n  \
        msgq recv 0 --peek              copy the first message, leave it queued\n  \
        msgq purge 0                    discard every message, print how many\n  \
        msgq abort 0 --receivers        end blocked receives (ECANCELED), print how many\n  \
        msgq list --json                all queues as JSON (lsipc -q --json's shape)\n  \
        msgq list -o KEY,ID,USER --raw  chosen columns, unaligned (lsipc's options)\n  \
        msgq send 0 --file img.png      a file's bytes as one message\n  \
        msgq recv 0 --raw > out.bin     the message's bytes exactly\n  \
        msgq limits set --msgmax 4096   lower the largest message size\n  \
        msgq --store /tmp/s check       check an explicit store\n  \
        msgq --backend kmod list        the kernel module's queues"
)]
struct Cli {
    /// The backend: user (a store file) or kmod (the kernel module, /dev/msgq)
    /// [default: $MSGQ_BACKEND, else kmod when /dev/msgq exists, else user]
    #[arg(long, global = true, value_enum)]
    backend: Option<Choice>,

    /// The store file to use [default: $MSGQ_STORE, else the IPC namespace's default store]
    #[arg(long, global = true, value_name = "PATH")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List every queue with its statistics (like `lsipc -q`, with its options)
    #[command(visible_alias = "ls", after_help = columns::help())]
    List {
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Show one queue in detail (like `ipcs -q -i ID`); with --json, -o, --raw or --export,
    /// its row as `list` prints it (every column unless -o says)
    #[command(after_help = columns::help())]
    Show {
        #[command(flatten)]
        q: QueueRef,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Create a queue (like `ipcmk -Q`) and print its id
    Mk {
        /// The key; without it a private queue (IPC_PRIVATE) is created
        #[arg(short, long, value_parser = parse_key)]
        key: Option<i32>,
        /// Permission bits, in octal
        #[arg(short, long, default_value = "644", value_parser = parse_mode)]
        mode: u32,
        /// Fail if a queue with the key exists (IPC_EXCL)
        #[arg(short = 'x', long)]
        excl: bool,
    },
    /// Remove queues by id or key (like `ipcrm -q ID` / `ipcrm -Q KEY`)
    Rm {
        /// Ids of the queues to remove
        ids: Vec<i32>,
        /// Keys of queues to remove (repeatable)
        #[arg(short, long, value_parser = parse_key)]
        key: Vec<i32>,
        /// Remove every queue this user may remove (like `ipcrm --all=msg`)
        #[arg(short, long, conflicts_with_all = ["ids", "key"])]
        all: bool,
    },
    /// Send a message to a queue: TEXT, or the bytes of a file (--file)
    Send {
        #[command(flatten)]
        q: QueueRef,
        /// The message text ("-" reads it from standard input)
        #[arg(allow_hyphen_values = true, required_unless_present = "file")]
        text: Option<String>,
        /// Send the bytes of this file, exactly ("-": standard input)
        #[arg(short, long, value_name = "PATH", conflicts_with = "text")]
        file: Option<PathBuf>,
        /// The message type (mtype, > 0)
        #[arg(short, long, default_value_t = 1, allow_negative_numbers = true)]
        r#type: i64,
        /// Fail with EAGAIN instead of waiting when the queue is full (IPC_NOWAIT)
        #[arg(short, long, conflicts_with = "timeout")]
        nowait: bool,
        /// Put the message in front of every queued message: the next one a matching
        /// receiver gets (MSGQ_URGENT)
        #[arg(long)]
        urgent: bool,
        /// Never wait: drop the oldest messages until this one fits; print how many were
        /// dropped (MSGQ_OVERWRITE; needs read and write permission)
        #[arg(long, conflicts_with = "broadcast")]
        overwrite: bool,
        /// Give a copy to every blocked receiver that accepts it; print how many (0: it was
        /// queued as usual) (MSGQ_BROADCAST)
        #[arg(long)]
        broadcast: bool,
        /// When the queue is full, wait at most this long, then fail with ETIMEDOUT
        /// (e.g. 250ms, 2s, 1.5s, 1m; a number alone is seconds)
        #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// A receive flag, refused here with a message saying so
        #[arg(long, hide = true)]
        peek: bool,
    },
    /// Receive a message from a queue and print its text (and, with --print-type, its type)
    #[command(visible_alias = "receive")]
    Recv {
        #[command(flatten)]
        q: QueueRef,
        /// msgtyp: 0 = the first message, N > 0 = the first of type N, N < 0 = the lowest
        /// type <= |N|
        #[arg(short, long, default_value_t = 0, allow_negative_numbers = true)]
        r#type: i64,
        /// Fail with ENOMSG instead of waiting when there is no message (IPC_NOWAIT)
        #[arg(short, long, conflicts_with = "timeout")]
        nowait: bool,
        /// Copy the message without removing it; with no message, wait as a receive does
        /// (MSGQ_PEEK)
        #[arg(long)]
        peek: bool,
        /// When there is no message, wait at most this long, then fail with ETIMEDOUT
        /// (e.g. 250ms, 2s, 1.5s, 1m; a number alone is seconds)
        #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Send flags, refused here with a message saying so
        #[arg(long, hide = true)]
        urgent: bool,
        #[arg(long, hide = true)]
        overwrite: bool,
        #[arg(long, hide = true)]
        broadcast: bool,
        /// Truncate a longer message instead of failing with E2BIG (MSG_NOERROR)
        #[arg(long)]
        noerror: bool,
        /// With --type N > 0: the first message whose type is not N (MSG_EXCEPT)
        #[arg(long)]
        except: bool,
        /// Largest text accepted, in bytes [default: msgmax]
        #[arg(long)]
        size: Option<usize>,
        /// Print "TYPE<tab>TEXT"
        #[arg(long, conflicts_with_all = ["raw", "file"])]
        print_type: bool,
        /// Write the message's bytes exactly, without the newline
        #[arg(long)]
        raw: bool,
        /// Write the message's bytes exactly to this file (created or truncated) instead of
        /// standard output
        #[arg(short, long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// Wait until a receive from one of several queues would find a message; print the
    /// ready ones (receives nothing)
    #[command(
        long_about = "Wait until a receive from one of several queues would find a message         (msgq_select) and print, one per line, each queue that is ready (`ID ready`) or can         not be watched (`ID ENAME`). Nothing is received. With --timeout, fail with         ETIMEDOUT when nothing is ready in time."
    )]
    Select {
        /// The queue ids
        #[arg(value_name = "ID", required = true, num_args = 1..=128)]
        ids: Vec<i32>,
        /// Message type to wait for, as msgrcv's msgtyp (0: any)
        #[arg(
            short = 't',
            long = "type",
            default_value_t = 0,
            allow_hyphen_values = true
        )]
        r#type: i64,
        /// With --type N > 0: any type but N (MSG_EXCEPT)
        #[arg(long)]
        except: bool,
        /// Wait at most this long (e.g. 250ms, 2s)
        #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Print {"queues": [{"id": "ID", "state": "ready" | "waiting" | "ENAME"}, ...]},
        /// every queue given, in order
        #[arg(short = 'J', long)]
        json: bool,
    },
    /// Discard every message of a queue and print how many (needs read permission)
    #[command(
        long_about = "Discard every message of a queue and print how many.\n\n\
        Needs read permission (a reader could take them all). Blocked senders whose message \
        now fits proceed. It is not a receive: the queue's lrpid and receive time stay."
    )]
    Purge {
        #[command(flatten)]
        q: QueueRef,
    },
    /// End the waits of a queue's blocked receivers and/or senders (they fail with
    /// ECANCELED) and print how many
    #[command(
        group(ArgGroup::new("which").required(true).multiple(true)),
        long_about = "End the waits of a queue's blocked callers and print how many.\n\n\
        The blocked `msgrcv` (and peeks) with --receivers, `msgsnd` with --senders, both with \
        --both, fail with ECANCELED. Aborting receivers needs write permission (a writer \
        could satisfy them), senders read permission. A caller that was already handed its \
        message is no longer blocked and keeps it. 0 when nobody was waiting."
    )]
    Abort {
        #[command(flatten)]
        q: QueueRef,
        /// The blocked receivers (MSGQ_ABORT_RECEIVERS)
        #[arg(long, group = "which")]
        receivers: bool,
        /// The blocked senders (MSGQ_ABORT_SENDERS)
        #[arg(long, group = "which")]
        senders: bool,
        /// Both
        #[arg(long, group = "which")]
        both: bool,
    },
    /// Show or set the limits (the msgmax, msgmnb, msgmni, msg_next_id sysctls)
    Limits {
        #[command(subcommand)]
        cmd: Option<LimitsCmd>,
        /// Print a JSON object (as `limits show --json`)
        #[arg(short = 'J', long)]
        json: bool,
    },
    /// Check the store's integrity and say what was checked (user backend)
    #[command(long_about = "Check the store's integrity.\n\n\
        Checks, in order: the file opens and its header is valid (magic, version, layout \
        signature, sizes match the file); the limits read back within the kernel's ranges; \
        every queue index up to the highest in use (MSG_INFO) is walked with MSG_STAT_ANY: \
        each id's index is its slot, modes are within 0777, keys other than IPC_PRIVATE are \
        unique, bytes imply messages; the MSG_INFO totals (queues, messages, bytes) equal the \
        sums over the walk; the /proc/sysvipc/msg text has one row per queue with the same \
        ids; and every message of every queue the caller may read is copied with MSG_COPY \
        (which walks the message lists without changing them), its type is positive and \
        the sizes add up to the queue's byte count. A corrupted list or offset is reported \
        by the engine as EIO. Run it on a quiet store: concurrent senders and receivers \
        change the numbers between the steps.")]
    Check {
        /// Print the results as JSON: {"store": PATH, "ok": BOOL, "checks": [{"ok": BOOL,
        /// "text": TEXT}, ...]}
        #[arg(short = 'J', long)]
        json: bool,
    },
    /// Print the path of the store this command (and the shim) would use (user backend)
    Path,
    /// Remove the whole store file (every queue in it; user backend)
    #[command(
        long_about = "Remove the whole store file, and with it every queue.\n\n\
        The file is checked to be a msgq store first (--force skips the check). Processes \
        that have the store open keep using the removed file until they exit; new processes \
        get a fresh, empty store."
    )]
    RemoveStore {
        /// Remove the file even if it is not a valid msgq store
        #[arg(long)]
        force: bool,
    },
    /// Run a program with its message queue system calls made by msgq, whatever it is
    /// linked with (static binaries, Go, raw system calls): `msgq run -- PROGRAM ARGS`
    #[command(
        long_about = "Run PROGRAM with its msgget, msgsnd, msgrcv and msgctl system \
        calls (and those of its children and threads) made by msgq on the user backend's \
        store (--store, else $MSGQ_STORE, else the IPC namespace's default store), through \
        seccomp user notification: for programs the shim (LD_PRELOAD) cannot reach: static \
        binaries, Go programs, anything making the system calls itself. Dynamically linked \
        programs are faster under the shim. msgq run exits with PROGRAM's status (128 + N \
        when signal N killed it) once every process under it has exited. See docs/run.md."
    )]
    Run {
        /// The program and its arguments (after --)
        #[arg(
            value_name = "PROGRAM",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        prog: Vec<std::ffi::OsString>,
    },
}

#[derive(Subcommand)]
enum LimitsCmd {
    /// Show the limits (the default)
    Show {
        /// Print a JSON object
        #[arg(short = 'J', long)]
        json: bool,
    },
    /// Set one or more limits (kernel ranges apply: EINVAL outside them)
    Set {
        /// Largest message text, in bytes (0..=2147483647)
        #[arg(long, allow_negative_numbers = true)]
        msgmax: Option<i64>,
        /// msg_qbytes given to new queues (0..=2147483647)
        #[arg(long, allow_negative_numbers = true)]
        msgmnb: Option<i64>,
        /// Most queues (0..=32768)
        #[arg(long, allow_negative_numbers = true)]
        msgmni: Option<i64>,
        /// The id the next new queue asks for (0..=2147483647; used once)
        #[arg(long, allow_negative_numbers = true)]
        msg_next_id: Option<i64>,
    },
}

/// `lsipc`'s output options.
#[derive(Args)]
struct OutputArgs {
    /// Print JSON shaped like `lsipc -q --json`: {"messages": [{"key": "0x...", "id": "0",
    /// ...}]}, every value a string, an unset time null
    #[arg(short = 'J', long, conflicts_with_all = ["raw", "export"])]
    json: bool,
    /// The columns, comma-separated (e.g. KEY,ID,PERMS); +LIST adds to the default ones
    #[arg(short, long, value_name = "LIST")]
    output: Option<String>,
    /// Do not print the headings
    #[arg(long)]
    noheadings: bool,
    /// Raw output: the values separated by one space, unaligned
    #[arg(short, long, conflicts_with = "export")]
    raw: bool,
    /// NAME="VALUE" pairs, one line per queue
    #[arg(short, long)]
    export: bool,
    /// PERMS in octal (644) instead of rw-r--r--
    #[arg(short = 'P', long)]
    numeric_perms: bool,
    /// Add the creator and owner columns (CUID CUSER CGID CGROUP UID USER GID GROUP)
    #[arg(short, long)]
    creator: bool,
    /// Add the time columns (SEND RECV CTIME; ISO 8601, local time)
    #[arg(short, long)]
    time: bool,
    /// Sizes in bytes (they always are; accepted as lsipc accepts it)
    #[arg(short, long)]
    bytes: bool,
}

impl OutputArgs {
    /// Whether anything but the default text was asked for (`show`'s detail view).
    fn any(&self) -> bool {
        self.json || self.raw || self.export || self.output.is_some() || self.creator || self.time
    }

    /// The format; `all`: every column unless -o says.
    fn format(&self, all: bool) -> R<columns::Format> {
        let cols = if all && self.output.is_none() && !self.creator && !self.time {
            (0..columns::COLUMNS.len()).collect()
        } else {
            columns::select(self.output.as_deref(), self.creator, self.time)?
        };
        Ok(columns::Format {
            cols,
            style: if self.json {
                columns::Style::Json
            } else if self.raw {
                columns::Style::Raw
            } else if self.export {
                columns::Style::Export
            } else {
                columns::Style::Table
            },
            headings: !self.noheadings,
            numeric_perms: self.numeric_perms,
        })
    }
}

#[derive(Args)]
struct QueueRef {
    /// The queue: its id, or with --key its key
    #[arg(value_name = "QUEUE", allow_negative_numbers = true, value_parser = parse_key)]
    queue: i32,
    /// QUEUE is a key (decimal or 0x hex), not an id
    #[arg(short, long)]
    key: bool,
}

fn parse_key(s: &str) -> Result<i32, String> {
    let (neg, t) = match s.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, s),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else {
        t.parse::<i64>()
    }
    .map_err(|e| format!("not a key: {e}"))?;
    let v = if neg { -v } else { v };
    if v < i32::MIN as i64 || v > u32::MAX as i64 {
        return Err("key out of range".into());
    }
    Ok(v as u32 as i32)
}

/// A timeout: a non-negative number with a unit, `ns`, `us`, `ms`, `s`, `m` or `h`; a
/// number alone is seconds (as `timeout(1)`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!("not a duration: {s:?} (e.g. 250ms, 2s)"));
    }
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        u => {
            return Err(format!(
                "unknown unit {u:?} (use ns, us, ms, s, m or h: e.g. 250ms, 2s)"
            ))
        }
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (e.g. 250ms, 2s)"))?;
    if v.is_sign_negative() || !v.is_finite() {
        return Err("a timeout cannot be negative".into());
    }
    // Far enough for any use, and the deadline (now + it, in ns) stays an i64.
    const MAX_SECS: f64 = 100.0 * 365.0 * 86400.0;
    let secs = v * scale;
    if secs > MAX_SECS {
        return Err("timeout too long (at most 100 years)".into());
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("not a duration: {e}"))
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let v = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|e| format!("not an octal mode: {e}"))?;
    if v > 0o777 {
        return Err("mode must be within 0777".into());
    }
    Ok(v)
}

impl QueueRef {
    fn arg(&self) -> QueueArg {
        QueueArg {
            value: self.queue,
            is_key: self.key,
        }
    }
}

/// The backend this invocation works on.
fn target(cli: &Cli) -> R<Target> {
    let env = std::env::var_os("MSGQ_BACKEND");
    let device = Path::new(backend::DEVICE).exists();
    match backend::choose(cli.backend, env.as_deref(), cli.store.is_some(), device) {
        Ok(Choice::User) => Ok(Target::User(storeq::store_path(cli.store.as_deref()))),
        Ok(Choice::Kmod) => Ok(Target::Kmod),
        Ok(Choice::Valkey) => Ok(Target::Valkey),
        Err(e) => Err(Fail(e)),
    }
}

/// A flag of the other direction (`send --peek`, `recv --urgent`): clap would only say
/// "unexpected argument"; this says which command takes it.
fn misplaced(cli: &Cli) -> Option<String> {
    match &cli.cmd {
        Cmd::Send { peek: true, .. } => Some(
            "--peek is a receive flag (MSGQ_PEEK): use `msgq recv QUEUE --peek`; a send \
             takes --urgent, --overwrite or --broadcast"
                .into(),
        ),
        Cmd::Recv {
            urgent,
            overwrite,
            broadcast,
            ..
        } => [
            (*urgent, "--urgent", "MSGQ_URGENT"),
            (*overwrite, "--overwrite", "MSGQ_OVERWRITE"),
            (*broadcast, "--broadcast", "MSGQ_BROADCAST"),
        ]
        .into_iter()
        .find(|f| f.0)
        .map(|(_, flag, name)| {
            format!(
                "{flag} is a send flag ({name}): use `msgq send QUEUE TEXT {flag}`; a \
                 receive takes --peek"
            )
        }),
        _ => None,
    }
}

fn run(cli: &Cli) -> R<()> {
    let t = target(cli)?;
    match &cli.cmd {
        Cmd::List { out } => commands::list(&t, &out.format(false)?),
        Cmd::Show { q, out } => {
            let f = if out.any() {
                Some(out.format(true)?)
            } else {
                None
            };
            commands::show(&t, &q.arg(), f.as_ref())
        }
        Cmd::Mk { key, mode, excl } => commands::mk(&t, *key, *mode, *excl),
        Cmd::Rm { ids, key, all } => commands::rm(&t, ids, key, *all),
        Cmd::Send {
            q,
            text,
            file,
            r#type,
            nowait,
            urgent,
            overwrite,
            broadcast,
            timeout,
            peek: _,
        } => {
            let flag = |on: bool, bit: i32| if on { bit } else { 0 };
            let o = SendOpts {
                nowait: *nowait,
                ext: flag(*urgent, ext::MSGQ_URGENT)
                    | flag(*overwrite, ext::MSGQ_OVERWRITE)
                    | flag(*broadcast, ext::MSGQ_BROADCAST),
                timeout: *timeout,
            };
            let body = match (text, file) {
                (_, Some(f)) => commands::Body::File(f),
                (Some(t), None) => commands::Body::Text(t),
                (None, None) => return Err(Fail("send: give TEXT or --file PATH".into())),
            };
            commands::send(&t, &q.arg(), &body, *r#type, &o)
        }
        Cmd::Recv {
            q,
            r#type,
            nowait,
            peek,
            timeout,
            noerror,
            except,
            size,
            print_type,
            raw,
            file,
            ..
        } => commands::recv(
            &t,
            &q.arg(),
            &RecvOpts {
                mtype: *r#type,
                nowait: *nowait,
                noerror: *noerror,
                except: *except,
                size: *size,
                print_type: *print_type,
                raw: *raw,
                file: file.clone(),
                peek: *peek,
                timeout: *timeout,
            },
        ),
        Cmd::Purge { q } => commands::purge(&t, &q.arg()),
        Cmd::Select {
            ids,
            r#type,
            except,
            timeout,
            json,
        } => commands::select(&t, ids, *r#type, *except, *timeout, *json),
        Cmd::Abort {
            q,
            receivers,
            senders,
            both,
        } => {
            let mut which = 0;
            if *receivers || *both {
                which |= ext::MSGQ_ABORT_RECEIVERS;
            }
            if *senders || *both {
                which |= ext::MSGQ_ABORT_SENDERS;
            }
            commands::abort(&t, &q.arg(), which)
        }
        Cmd::Limits { cmd, json } => match cmd {
            None => commands::limits_show(&t, *json),
            Some(LimitsCmd::Show { json }) => commands::limits_show(&t, *json),
            Some(LimitsCmd::Set {
                msgmax,
                msgmnb,
                msgmni,
                msg_next_id,
            }) => commands::limits_set(
                &t,
                &[
                    (Sysctl::Msgmax, *msgmax),
                    (Sysctl::Msgmnb, *msgmnb),
                    (Sysctl::Msgmni, *msgmni),
                    (Sysctl::MsgNextId, *msg_next_id),
                ],
            ),
        },
        Cmd::Check { json } => store::check(t.store_only("check")?, *json),
        Cmd::Path => out(&format!("{}\n", t.store_only("path")?.display())),
        Cmd::RemoveStore { force } => store::remove_store(t.store_only("remove-store")?, *force),
        Cmd::Run { prog } => run::main(&t, prog),
    }
}

/// Never a Rust panic message or backtrace (issue 16): a store the engine finds corrupt
/// unwinds with [`msgq_user::shm::arena::Corrupt`], which the engine catches and reports
/// itself (one `msgq: PATH: corrupt store (bad offset ...)` line, then `EIO`): nothing to
/// add. Any other panic is a bug in msgq: one line saying where, no backtrace.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        if info.payload().is::<msgq_user::shm::arena::Corrupt>() {
            return;
        }
        let p = info.payload();
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" ({}:{})", l.file(), l.line()));
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "msgq: internal error: {what}{at}; please report it");
    }));
}

fn main() -> ExitCode {
    // Like every Unix filter: when the reader of our output goes away (`msgq check | head`),
    // end quietly by SIGPIPE instead of failing to print (Rust ignores SIGPIPE by default,
    // which turns it into an EPIPE error, and println! into a panic).
    // SAFETY: restoring the default disposition, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    quiet_panics();
    let cli = Cli::parse();
    if let Some(msg) = misplaced(&cli) {
        use clap::CommandFactory;
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit();
    }
    // A panic is a bug: `quiet_panics` has said so in one line; the exit status is 1.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&cli)));
    match r.unwrap_or_else(|_| Err(Fail(String::new()))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) if msg.is_empty() => ExitCode::FAILURE,
        Err(Fail(msg)) => {
            eprintln!("msgq: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("0x1234"), Ok(0x1234));
        assert_eq!(parse_key("-2"), Ok(-2));
        assert_eq!(parse_key("0xfffffffe"), Ok(-2));
        assert!(parse_key("zz").is_err());
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert!(parse_mode("1000").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("-1").unwrap_err().contains("negative"));
        assert!(parse_duration("-0.5s").unwrap_err().contains("negative"));
        assert!(parse_duration("2 fortnights")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("ms").unwrap_err().contains("not a duration"));
        assert!(parse_duration("2000000h").unwrap_err().contains("too long"));
        assert!(parse_duration("nan")
            .unwrap_err()
            .contains("not a duration"));
    }
}
