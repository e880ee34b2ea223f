//! `reef-logtool`: inspect a stopped node's Raft log.
//!
//! ```text
//! reef-logtool info DIR
//! reef-logtool dump DIR [--from N] [--to N]
//! reef-logtool verify DIR
//! ```
//! `info` shows each snapshot's engine header (index, term, size, per-table row counts);
//! `dump` decodes normal entries into their SQL statements and parameters; `verify` also
//! opens every snapshot's archive as the engine would.
//! Exit codes: 0 success (verify: clean), 1 corruption or unreadable data (file and byte
//! offset in the message), 2 usage error.

use reef_tools::logtool;
use std::path::PathBuf;

const USAGE: &str = "usage: reef-logtool info DIR | dump DIR [--from N] [--to N] | verify DIR";

fn usage(msg: &str) -> ! {
    eprintln!("reef-logtool: {msg}\n{USAGE}");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(cmd), Some(dir)) = (args.first(), args.get(1)) else {
        usage("missing command or DIR")
    };
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        usage(&format!("{} is not a directory", dir.display()));
    }
    let result = match cmd.as_str() {
        "info" if args.len() == 2 => logtool::info(&dir),
        "verify" if args.len() == 2 => logtool::verify(&dir),
        "dump" => {
            let (mut from, mut to) = (None, None);
            let mut it = args[2..].iter();
            while let Some(flag) = it.next() {
                let val = it
                    .next()
                    .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
                let n: u64 = val
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("{flag} {val}: not a number")));
                match flag.as_str() {
                    "--from" => from = Some(n),
                    "--to" => to = Some(n),
                    _ => usage(&format!("unknown flag {flag}")),
                }
            }
            logtool::dump(&dir, from, to, &logtool::describe_batch)
        }
        _ => usage(&format!("unknown command or arguments: {}", args.join(" "))),
    };
    match result {
        Ok(out) => {
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
        }
        Err(e) => {
            eprintln!("reef-logtool: {e}");
            std::process::exit(1);
        }
    }
}
