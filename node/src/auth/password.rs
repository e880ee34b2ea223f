//! Password secrets: the forms a users file's `password` field may take, and checking one.
//!
//! - `$pbkdf2-sha256$<iterations>$<salt>$<hash>` (salt and hash in unpadded standard base64)
//!   is ReefDB's own pre-hashed form; `reefdb hash-password` writes it.
//! - `$2a$`, `$2b$`, `$2y$` bcrypt hashes are what rqlite accepts besides plaintext, so an
//!   rqlite auth file works unchanged.
//! - Anything else is a plaintext password (rqlite allows it). It is hashed with a fresh random
//!   salt when the file is loaded, so the process never keeps or compares the plaintext; the
//!   loader warns, because the file itself still holds it.
//!
//! Comparisons are constant-time (ring's PBKDF2 verify, bcrypt's own). Hashes that are slow
//! on purpose say so ([`Secret::is_slow`]) so the caller can keep them off a shard's thread.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};
use std::num::NonZeroU32;

/// Iterations `reefdb hash-password` uses unless told otherwise (OWASP's 2023 figure for
/// PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Iterations for plaintext entries hashed at load. The file holds the plaintext anyway, so
/// a slow hash would protect nothing and only delay every first request.
const LOAD_ITERATIONS: u32 = 1_000;
/// Above this, checking a password takes milliseconds: it leaves the shard's thread.
const INLINE_MAX_ITERATIONS: u32 = 10_000;
/// A file cannot ask for a hash so slow that checking it is a denial of service.
const MAX_ITERATIONS: u32 = 10_000_000;
const PREFIX: &str = "$pbkdf2-sha256$";
const ALG: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;

/// A stored password, never the plaintext.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Pbkdf2 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Bcrypt(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Pbkdf2 { iterations, .. } => write!(f, "Secret::Pbkdf2({iterations})"),
            Secret::Bcrypt(_) => f.write_str("Secret::Bcrypt"),
        }
    }
}

/// How a `password` field was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Plaintext,
    Pbkdf2,
    Bcrypt,
}

impl Secret {
    /// Reads a `password` field. A field that looks like a hash but does not parse is an error
    /// rather than a plaintext password, because silently treating a broken hash as a
    /// password would lock its user out with no clue why.
    pub fn parse(field: &str) -> Result<(Secret, Form), String> {
        if let Some(rest) = field.strip_prefix(PREFIX) {
            return Self::parse_pbkdf2(rest).map(|s| (s, Form::Pbkdf2));
        }
        if ["$2a$", "$2b$", "$2y$", "$2x$"]
            .iter()
            .any(|p| field.starts_with(p))
        {
            field
                .parse::<bcrypt::HashParts>()
                .map_err(|e| format!("not a valid bcrypt hash: {e}"))?;
            return Ok((Secret::Bcrypt(field.to_string()), Form::Bcrypt));
        }
        Ok((Secret::hash(field, LOAD_ITERATIONS), Form::Plaintext))
    }

    fn parse_pbkdf2(rest: &str) -> Result<Secret, String> {
        let form = || {
            format!("expected {PREFIX}<iterations>$<salt base64>$<hash base64>, as `reefdb hash-password` writes")
        };
        let mut parts = rest.split('$');
        let (Some(iter), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(form());
        };
        let iterations = iter
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_ITERATIONS).contains(n))
            .and_then(NonZeroU32::new)
            .ok_or_else(|| format!("iterations must be 1 to {MAX_ITERATIONS}; {}", form()))?;
        let salt = STANDARD_NO_PAD
            .decode(salt)
            .map_err(|e| format!("salt: {e}; {}", form()))?;
        let hash = STANDARD_NO_PAD
            .decode(hash)
            .map_err(|e| format!("hash: {e}; {}", form()))?;
        if !(8..=64).contains(&salt.len()) || !(16..=64).contains(&hash.len()) {
            return Err(format!(
                "salt must be 8 to 64 bytes and hash 16 to 64 bytes; {}",
                form()
            ));
        }
        Ok(Secret::Pbkdf2 {
            iterations,
            salt,
            hash,
        })
    }

    /// Hashes `password` with a fresh 16-byte salt.
    pub fn hash(password: &str, iterations: u32) -> Secret {
        let iterations =
            NonZeroU32::new(iterations.clamp(1, MAX_ITERATIONS)).expect("clamped to at least 1");
        let mut salt = vec![0u8; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .expect("the system random source is available");
        let mut hash = vec![0u8; 32];
        pbkdf2::derive(ALG, iterations, &salt, password.as_bytes(), &mut hash);
        Secret::Pbkdf2 {
            iterations,
            salt,
            hash,
        }
    }

    /// The field text for a users file.
    pub fn encode(&self) -> String {
        match self {
            Secret::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => format!(
                "{PREFIX}{iterations}${}${}",
                STANDARD_NO_PAD.encode(salt),
                STANDARD_NO_PAD.encode(hash)
            ),
            Secret::Bcrypt(s) => s.clone(),
        }
    }

    /// True when checking takes long enough (on purpose) to stall a shard.
    pub fn is_slow(&self) -> bool {
        match self {
            Secret::Pbkdf2 { iterations, .. } => iterations.get() > INLINE_MAX_ITERATIONS,
            Secret::Bcrypt(_) => true,
        }
    }

    /// Constant-time check of a presented password.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            Secret::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => pbkdf2::verify(ALG, *iterations, salt, password.as_bytes(), hash).is_ok(),
            Secret::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_hashed_with_a_fresh_salt() {
        let (a, form) = Secret::parse("hunter2").unwrap();
        let (b, _) = Secret::parse("hunter2").unwrap();
        assert_eq!(form, Form::Plaintext);
        assert_ne!(a, b, "same password, different salts");
        assert!(a.verify("hunter2") && b.verify("hunter2"));
        assert!(!a.verify("hunter3") && !a.verify("") && !a.verify("hunter22"));
        assert!(!a.encode().contains("hunter2"));
        assert!(!a.is_slow());
    }

    #[test]
    fn own_form_round_trips() {
        let s = Secret::hash("correct horse", 20_000);
        let text = s.encode();
        assert!(text.starts_with("$pbkdf2-sha256$20000$"), "{text}");
        let (back, form) = Secret::parse(&text).unwrap();
        assert_eq!(form, Form::Pbkdf2);
        assert_eq!(back, s);
        assert!(back.verify("correct horse") && !back.verify("correct horse "));
        assert!(back.is_slow());
    }

    #[test]
    fn bcrypt_hashes_from_rqlite_files_verify() {
        let h = bcrypt::hash("secret1", 4).unwrap();
        let (s, form) = Secret::parse(&h).unwrap();
        assert_eq!(form, Form::Bcrypt);
        assert!(s.verify("secret1") && !s.verify("secret2"));
        assert!(s.is_slow());
    }

    /// Broken hashes are errors, never silently plaintext.
    #[test]
    fn malformed_hashes_are_refused() {
        for bad in [
            "$pbkdf2-sha256$",
            "$pbkdf2-sha256$0$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$99999999999$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$1000$!!$AAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$1000$AA$AAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$1000$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$x",
            "$2b$04$tooshort",
        ] {
            assert!(Secret::parse(bad).is_err(), "{bad}");
        }
    }
}
