//! `reefdb hash-password`: the pre-hashed `password` form for a users file.
//!
//! Reads the password from the first line of standard input, so it never shows in a process
//! list or a shell history, and prints `$pbkdf2-sha256$<iterations>$<salt>$<hash>`.

use crate::auth::password::{Secret, DEFAULT_ITERATIONS};
use std::io::BufRead;

#[derive(Debug, Clone, clap::Args)]
pub struct HashPasswordArgs {
    /// PBKDF2-HMAC-SHA256 iterations (more is slower to check and to guess).
    #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
    pub iterations: u32,
}

/// Hashes one password read from `input`.
pub fn run(args: &HashPasswordArgs, input: impl BufRead) -> Result<String, String> {
    if !(1_000..=10_000_000).contains(&args.iterations) {
        return Err(format!(
            "--iterations must be 1000 to 10000000, not {}",
            args.iterations
        ));
    }
    let line = input
        .lines()
        .next()
        .ok_or("no password on standard input")?
        .map_err(|e| format!("reading standard input: {e}"))?;
    if line.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(Secret::hash(&line, args.iterations).encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_the_first_line() {
        let args = HashPasswordArgs { iterations: 1_000 };
        let out = run(&args, "pa:ss word\nignored\n".as_bytes()).unwrap();
        let (secret, _) = Secret::parse(&out).unwrap();
        assert!(secret.verify("pa:ss word"));
        assert!(run(&args, "".as_bytes()).is_err());
        assert!(run(&args, "\n".as_bytes()).is_err());
        assert!(run(&HashPasswordArgs { iterations: 5 }, "x\n".as_bytes()).is_err());
    }
}
