//! The users file: rqlite's auth JSON, loaded into hashed secrets and permission sets.
//!
//! ```json
//! [
//!   {"username": "alice", "password": "$pbkdf2-sha256$600000$...$...", "perms": ["all"]},
//!   {"username": "app", "password": "plaintext is accepted", "perms": ["execute", "query"]},
//!   {"username": "*", "perms": ["status", "ready"]}
//! ]
//! ```
//!
//! `*` is everyone, authenticated or not. rqlite's `join_as` field is accepted and ignored
//! (ReefDB nodes join over mTLS, not with a user). Where rqlite lets the last of two entries
//! for one user win, this loader refuses the file: in a security file an accidental duplicate
//! should be loud. Unknown permission names are refused for the same reason.

use super::password::{Form, Secret};
use super::{Perm, PermSet};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A users file larger than this is refused rather than read.
const MAX_FILE_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read users file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("users file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    perms: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    join_as: bool,
}

#[derive(Debug)]
struct User {
    secret: Secret,
    perms: PermSet,
}

/// The loaded users of one node.
#[derive(Debug)]
pub struct Users {
    users: HashMap<String, User>,
    anyone: PermSet,
    source: PathBuf,
    /// Changes with every load, so caches of verified passwords know to start over.
    generation: u64,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Users {
    /// Reads and parses a users file; also returns warnings worth logging.
    pub fn load(path: &Path) -> Result<(Users, Vec<String>), UsersError> {
        let read = |source| UsersError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_FILE_BYTES {
            return Err(UsersError::Invalid {
                path: path.to_path_buf(),
                message: format!("{len} bytes; the limit is {MAX_FILE_BYTES}"),
            });
        }
        let bytes = std::fs::read(path).map_err(read)?;
        Users::parse(&bytes, path)
    }

    /// Parses a users file's bytes; `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<(Users, Vec<String>), UsersError> {
        let bad = |message: String| UsersError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| {
            bad(format!(
                "{e} (expected a JSON list of {{\"username\", \"password\", \"perms\"}})"
            ))
        })?;
        let mut users = HashMap::new();
        let mut anyone = None;
        let mut plaintext = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let at = |m: String| bad(format!("entry {i} ({:?}): {m}", e.username));
            let mut perms = PermSet::default();
            for name in &e.perms {
                let p = Perm::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = Perm::EVERY.iter().map(|p| p.name()).collect();
                    at(format!(
                        "unknown permission {name:?}; known: {}",
                        known.join(", ")
                    ))
                })?;
                perms.insert(p);
            }
            if e.username == "*" {
                if e.password.is_some() {
                    return Err(at(
                        "`*` stands for every caller and takes no password".into()
                    ));
                }
                if anyone.replace(perms).is_some() {
                    return Err(at("`*` is listed twice".into()));
                }
                continue;
            }
            if e.username.is_empty() || e.username.contains(':') {
                return Err(at(
                    "user names must be non-empty and free of ':' (HTTP basic auth cannot carry one)"
                        .into(),
                ));
            }
            let Some(pw) = e.password.as_deref() else {
                return Err(at("has no password".into()));
            };
            let (secret, form) = Secret::parse(pw).map_err(|m| at(format!("password: {m}")))?;
            if form == Form::Plaintext {
                plaintext.push(e.username.clone());
            }
            if users
                .insert(e.username.clone(), User { secret, perms })
                .is_some()
            {
                return Err(at("user is listed twice".into()));
            }
        }
        let mut warnings = Vec::new();
        if !plaintext.is_empty() {
            warnings.push(format!(
                "users file {} holds plaintext passwords (users: {}); they are accepted for \
                 rqlite compatibility and hashed in memory, but anyone who can read the file can \
                 read them: replace each with the output of `reefdb hash-password`",
                path.display(),
                plaintext.join(", ")
            ));
        }
        Ok((
            Users {
                users,
                anyone: anyone.unwrap_or_default(),
                source: path.to_path_buf(),
                generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            },
            warnings,
        ))
    }

    /// What `*` (every caller) may do.
    pub fn anyone(&self) -> PermSet {
        self.anyone
    }

    /// A user's own permissions (without `*`'s); `None` for an unknown user.
    pub fn perms(&self, user: &str) -> Option<PermSet> {
        self.users.get(user).map(|u| u.perms)
    }

    pub(super) fn secret(&self, user: &str) -> Option<&Secret> {
        self.users.get(user).map(|u| &u.secret)
    }

    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Users, Vec<String>), UsersError> {
        Users::parse(text.as_bytes(), Path::new("/etc/reef/users.json"))
    }

    #[test]
    fn reads_an_rqlite_file() {
        let hashed = Secret::hash("s3cret", 1000).encode();
        let text = format!(
            r#"[
              {{"username": "bob", "password": "secret1", "perms": ["all"], "join_as": true}},
              {{"username": "mary", "password": "{hashed}", "perms": ["query", "backup", "join-read-only"]}},
              {{"username": "*", "perms": ["status", "ready"]}}
            ]"#
        );
        let (u, warnings) = parse(&text).unwrap();
        assert_eq!(u.len(), 2);
        assert!(u.perms("bob").unwrap().allows(Perm::Leader));
        let mary = u.perms("mary").unwrap();
        assert!(mary.allows(Perm::Query) && !mary.allows(Perm::Execute));
        assert!(u.anyone().allows(Perm::Ready) && !u.anyone().allows(Perm::Query));
        assert!(u.secret("bob").unwrap().verify("secret1"));
        assert!(u.secret("mary").unwrap().verify("s3cret"));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("bob") && !warnings[0].contains("mary"),
            "{warnings:?}"
        );
    }

    /// Each bad file is refused with an error naming the file and the entry.
    #[test]
    fn bad_files_name_the_problem() {
        for (text, want) in [
            ("{}", "expected a JSON list"),
            (
                r#"[{"username": "a", "password": "x", "perms": ["exec"]}]"#,
                "entry 0 (\"a\"): unknown permission \"exec\"",
            ),
            (
                r#"[{"username": "a", "perms": ["query"]}]"#,
                "has no password",
            ),
            (r#"[{"username": "a:b", "password": "x"}]"#, "free of ':'"),
            (r#"[{"username": "", "password": "x"}]"#, "non-empty"),
            (
                r#"[{"username": "*", "password": "x"}]"#,
                "takes no password",
            ),
            (
                r#"[{"username": "a", "password": "x"}, {"username": "a", "password": "y"}]"#,
                "entry 1 (\"a\"): user is listed twice",
            ),
            (
                r#"[{"username": "a", "password": "x", "colour": "red"}]"#,
                "unknown field `colour`",
            ),
            (
                r#"[{"username": "a", "password": "$pbkdf2-sha256$1$x"}]"#,
                "password: expected",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.contains("/etc/reef/users.json"), "{e}");
        }
    }

    #[test]
    fn every_load_is_a_new_generation() {
        let a = parse("[]").unwrap().0;
        let b = parse("[]").unwrap().0;
        assert_ne!(a.generation(), b.generation());
    }
}
