//! Checking a client's password on a shard without stalling the shard.
//!
//! A pre-hashed password (PBKDF2 with 600,000 iterations, bcrypt) costs hundreds of
//! milliseconds to check, on purpose. Doing that on a shard's thread would stall every
//! connection the shard serves, so slow checks run on glommio's blocking pool, one at a time
//! per shard, with a bounded queue (beyond it the caller is told to retry: 429). A credential
//! that checked out is remembered per shard as an HMAC under a key that never leaves the
//! process, so a client's next requests cost one HMAC, not a hash. The memory is dropped
//! whenever the users file is reloaded.
//!
//! Each shard owns its `Verifier`; its `RefCell`/`Cell`s are borrowed only between awaits.

use super::password::Secret;
use super::Users;
use base64::Engine as _;
use ring::hmac;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::Arc;

/// Slow checks waiting on one shard before more are refused.
const MAX_WAITING: usize = 64;
/// Remembered credentials per shard; past this the memory starts over.
const MAX_REMEMBERED: usize = 4096;

/// The result of checking one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Valid,
    Invalid,
    /// Too many slow checks queued on this shard: retry later.
    Busy,
}

pub struct Verifier {
    key: hmac::Key,
    remembered: RefCell<HashSet<[u8; 32]>>,
    generation: Cell<u64>,
    slow: glommio::sync::Semaphore,
    waiting: Cell<usize>,
    /// Checked for unknown users, so a wrong user name costs what a wrong password does.
    dummy: Secret,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        let rng = ring::rand::SystemRandom::new();
        Verifier {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                .expect("the system random source is available"),
            remembered: RefCell::new(HashSet::new()),
            generation: Cell::new(0),
            slow: glommio::sync::Semaphore::new(1),
            waiting: Cell::new(0),
            dummy: Secret::hash("", 1_000),
        }
    }

    fn tag(&self, user: &str, password: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&(user.len() as u64).to_be_bytes());
        ctx.update(user.as_bytes());
        ctx.update(password.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    fn remembers(&self, users: &Users, tag: &[u8; 32]) -> bool {
        if self.generation.get() != users.generation() {
            self.generation.set(users.generation());
            self.remembered.borrow_mut().clear();
            return false;
        }
        self.remembered.borrow().contains(tag)
    }

    fn remember(&self, users: &Users, tag: [u8; 32]) {
        if self.generation.get() != users.generation() {
            return;
        }
        let mut set = self.remembered.borrow_mut();
        if set.len() >= MAX_REMEMBERED {
            set.clear();
        }
        set.insert(tag);
    }

    /// Checks `user`'s `password` against `users`. Must run on a glommio executor.
    pub async fn check(&self, users: &Arc<Users>, user: &str, password: &str) -> Outcome {
        let tag = self.tag(user, password);
        if self.remembers(users, &tag) {
            return Outcome::Valid;
        }
        let Some(secret) = users.secret(user) else {
            let _ = self.dummy.verify(password);
            return Outcome::Invalid;
        };
        let valid = if secret.is_slow() {
            if self.waiting.get() >= MAX_WAITING {
                return Outcome::Busy;
            }
            self.waiting.set(self.waiting.get() + 1);
            let permit = self.slow.acquire_permit(1).await;
            self.waiting.set(self.waiting.get() - 1);
            if permit.is_err() {
                return Outcome::Busy;
            }
            // The request queued behind may have been the same client's, now remembered.
            if self.remembers(users, &tag) {
                return Outcome::Valid;
            }
            let (secret, password) = (secret.clone(), password.to_string());
            glommio::executor()
                .spawn_blocking(move || secret.verify(&password))
                .await
        } else {
            secret.verify(password)
        };
        if valid {
            self.remember(users, tag);
            Outcome::Valid
        } else {
            Outcome::Invalid
        }
    }
}

/// Splits an `Authorization: Basic ...` value into user and password. `None` when the
/// header is not basic auth; `Some(Err)` when it is but is malformed.
pub fn parse_basic(header: &str) -> Option<Result<(String, String), &'static str>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = match base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
        Ok(d) => d,
        Err(_) => return Some(Err("the basic auth credentials are not valid base64")),
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return Some(Err("the basic auth credentials are not UTF-8"));
    };
    Some(match text.split_once(':') {
        Some((u, p)) => Ok((u.to_string(), p.to_string())),
        None => Err("the basic auth credentials lack the ':' between user and password"),
    })
}

/// Extracts the token of an `Authorization: Bearer ...` value.
pub fn parse_bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Compares two secrets without leaking where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn basic_headers_parse() {
        assert_eq!(
            parse_basic("Basic Ym9iOnNlY3JldDE="),
            Some(Ok(("bob".into(), "secret1".into())))
        );
        // Passwords may hold colons; the user name may not.
        assert_eq!(
            parse_basic("basic YTpiOmM="),
            Some(Ok(("a".into(), "b:c".into())))
        );
        assert!(matches!(parse_basic("Basic !!!"), Some(Err(_))));
        assert!(matches!(parse_basic("Basic Ym9i"), Some(Err(_))));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_bearer("Bearer abc "), Some("abc"));
        assert_eq!(parse_bearer("Basic abc"), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }

    /// Fast and slow secrets, remembered credentials, and a reload forgetting them.
    #[test]
    fn checks_on_a_shard() {
        let slow = Secret::hash("slowpw", 20_000).encode();
        let text = format!(
            r#"[{{"username": "fast", "password": "fastpw"}},
                {{"username": "slow", "password": "{slow}"}}]"#
        );
        let path = Path::new("users.json");
        glommio::LocalExecutor::default().run(async move {
            let v = Verifier::new();
            let users = Arc::new(Users::parse(text.as_bytes(), path).unwrap().0);
            assert_eq!(v.check(&users, "fast", "fastpw").await, Outcome::Valid);
            assert_eq!(v.check(&users, "fast", "fastpw").await, Outcome::Valid);
            assert_eq!(v.check(&users, "fast", "nope").await, Outcome::Invalid);
            assert_eq!(v.check(&users, "ghost", "fastpw").await, Outcome::Invalid);
            assert_eq!(v.check(&users, "slow", "slowpw").await, Outcome::Valid);
            assert_eq!(v.check(&users, "slow", "fastpw").await, Outcome::Invalid);
            assert!(v.remembered.borrow().len() == 2);
            // A reloaded file where `fast` has another password: the old one no longer works.
            let reloaded = Arc::new(
                Users::parse(br#"[{"username": "fast", "password": "other"}]"#, path)
                    .unwrap()
                    .0,
            );
            assert_eq!(v.check(&reloaded, "fast", "fastpw").await, Outcome::Invalid);
            assert_eq!(v.check(&reloaded, "fast", "other").await, Outcome::Valid);
        });
    }
}
