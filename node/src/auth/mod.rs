//! Who is calling, and may they: users, permissions and the decision for one request.
//!
//! Users come from an rqlite-format JSON file ([`users`]); their passwords are salted hashes
//! ([`password`]). The node that receives a client's request checks its credentials
//! ([`verify`]) and turns them into an [`Identity`]; a follower that forwards the request to
//! the leader sends that identity along (`ForwardedRequest.user`), and the leader decides again
//! with its own users file, so a follower with a stale or laxer file cannot grant more than the
//! leader would. [`check`] is that decision, the same on both sides.
//!
//! The admin bearer token (`admin.token`) stays as an alternative for operators: a request
//! carrying it may use every admin permission (membership, snapshots, leadership, reloads),
//! whether or not a users file is configured. It grants nothing else.

pub mod password;
pub mod users;
pub mod verify;

pub use users::{Users, UsersError};

/// A permission, as rqlite's auth file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Perm {
    All,
    Execute,
    Query,
    Status,
    Ready,
    Join,
    JoinReadOnly,
    Remove,
    Backup,
    Load,
    Snapshot,
    Leader,
}

impl Perm {
    pub const EVERY: [Perm; 12] = [
        Perm::All,
        Perm::Execute,
        Perm::Query,
        Perm::Status,
        Perm::Ready,
        Perm::Join,
        Perm::JoinReadOnly,
        Perm::Remove,
        Perm::Backup,
        Perm::Load,
        Perm::Snapshot,
        Perm::Leader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Perm::All => "all",
            Perm::Execute => "execute",
            Perm::Query => "query",
            Perm::Status => "status",
            Perm::Ready => "ready",
            Perm::Join => "join",
            Perm::JoinReadOnly => "join-read-only",
            Perm::Remove => "remove",
            Perm::Backup => "backup",
            Perm::Load => "load",
            Perm::Snapshot => "snapshot",
            Perm::Leader => "leader",
        }
    }

    /// Parses a name from an auth file. rqlite's `join-read-replica` is its newer spelling of
    /// `join-read-only`.
    pub fn parse(name: &str) -> Option<Perm> {
        if name == "join-read-replica" {
            return Some(Perm::JoinReadOnly);
        }
        Perm::EVERY.into_iter().find(|p| p.name() == name)
    }

    /// Operator permissions: the admin token grants these and only these.
    pub fn is_admin(self) -> bool {
        !matches!(
            self,
            Perm::Execute | Perm::Query | Perm::Status | Perm::Ready
        )
    }
}

/// A set of permissions (a bit per [`Perm`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermSet(u16);

impl PermSet {
    pub fn insert(&mut self, p: Perm) {
        self.0 |= 1 << p as u8;
    }

    pub fn contains(self, p: Perm) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    /// Whether this set may do `p`: `all` may do anything.
    pub fn allows(self, p: Perm) -> bool {
        self.contains(Perm::All) || self.contains(p)
    }

    pub fn union(self, other: PermSet) -> PermSet {
        PermSet(self.0 | other.0)
    }

    pub fn names(self) -> Vec<&'static str> {
        Perm::EVERY
            .into_iter()
            .filter(|p| self.contains(*p))
            .map(Perm::name)
            .collect()
    }
}

impl FromIterator<Perm> for PermSet {
    fn from_iter<I: IntoIterator<Item = Perm>>(iter: I) -> Self {
        let mut s = PermSet::default();
        for p in iter {
            s.insert(p);
        }
        s
    }
}

/// Who a request comes from, once its credentials were checked where it entered the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Identity {
    /// No credentials (or auth is off and none were needed).
    #[default]
    Anonymous,
    /// A user of the users file, password verified.
    User(String),
    /// The operator's `admin.token`, verified.
    AdminToken,
}

/// The wire spelling of [`Identity::AdminToken`]. HTTP basic auth cannot carry a user name
/// with a colon, and the users file refuses one, so no real user can be mistaken for it.
const WIRE_ADMIN_TOKEN: &str = ":admin-token";

impl Identity {
    /// The `ForwardedRequest.user` field: empty for anonymous.
    pub fn to_wire(&self) -> String {
        match self {
            Identity::Anonymous => String::new(),
            Identity::User(u) => u.clone(),
            Identity::AdminToken => WIRE_ADMIN_TOKEN.into(),
        }
    }

    /// Reads `ForwardedRequest.user`. Only ever applied to frames from a peer that proved
    /// its cluster certificate: the follower checked the credentials, the leader trusts that.
    pub fn from_wire(s: &str) -> Identity {
        match s {
            "" => Identity::Anonymous,
            WIRE_ADMIN_TOKEN => Identity::AdminToken,
            u => Identity::User(u.to_string()),
        }
    }
}

/// Why a request may not proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 401: no credentials, or credentials that do not check out.
    Unauthenticated(String),
    /// 403: a known caller without the permission.
    Forbidden(String),
}

fn needs(need: &[Perm]) -> String {
    let names: Vec<String> = need.iter().map(|p| format!("`{}`", p.name())).collect();
    names.join(" or ")
}

/// Decides whether `who` may do something needing any one of `need`. `users` is `None` when
/// auth is off; `admin_token` says whether `admin.token` is configured.
pub fn check(
    users: Option<&Users>,
    admin_token: bool,
    who: &Identity,
    need: &[Perm],
) -> Result<(), Denial> {
    let admin_only = need.iter().all(|p| p.is_admin());
    if *who == Identity::AdminToken && admin_only {
        return Ok(());
    }
    let Some(users) = users else {
        if admin_only && admin_token {
            return Err(Denial::Unauthenticated(
                "admin endpoints need `Authorization: Bearer <admin.token>`".into(),
            ));
        }
        return Ok(());
    };
    let mut have = users.anyone();
    if let Identity::User(name) = who {
        match users.perms(name) {
            Some(p) => have = have.union(p),
            None => {
                return Err(Denial::Forbidden(format!(
                    "user {name:?} is not in the users file of this node ({}); \
                     the nodes' users files differ",
                    users.source().display()
                )))
            }
        }
    }
    if need.iter().any(|p| have.allows(*p)) {
        return Ok(());
    }
    match who {
        Identity::User(name) => Err(Denial::Forbidden(format!(
            "user {name:?} lacks the {} permission",
            needs(need)
        ))),
        _ => Err(Denial::Unauthenticated(format!(
            "this needs the {} permission: authenticate with HTTP basic auth",
            needs(need)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        Users::parse(
            br#"[
                {"username": "root", "password": "pw-root", "perms": ["all"]},
                {"username": "reader", "password": "pw-reader", "perms": ["query"]},
                {"username": "ops", "password": "pw-ops", "perms": ["join", "snapshot"]},
                {"username": "*", "perms": ["status", "ready"]}
            ]"#,
            std::path::Path::new("/etc/reef/users.json"),
        )
        .unwrap()
        .0
    }

    /// The decision table: (auth on, token configured, who, need, expected).
    #[test]
    fn decisions() {
        use Identity::*;
        use Perm::*;
        let u = users();
        let user = |n: &str| User(n.to_string());
        let ok = Ok(());
        let unauth = |m: &str| Err(Denial::Unauthenticated(m.into()));
        let forbid = |m: &str| Err(Denial::Forbidden(m.into()));
        #[allow(clippy::type_complexity)]
        let cases: Vec<(bool, bool, Identity, Vec<Perm>, Result<(), Denial>)> =
            vec![
            // Auth off: everything open, admin behind the token when one is set.
            (false, false, Anonymous, vec![Execute], ok.clone()),
            (false, false, Anonymous, vec![Join], ok.clone()),
            (false, true, Anonymous, vec![Execute], ok.clone()),
            (
                false,
                true,
                Anonymous,
                vec![Remove],
                unauth("admin endpoints need `Authorization: Bearer <admin.token>`"),
            ),
            (false, true, AdminToken, vec![Remove], ok.clone()),
            // Auth on: `*` grants status and ready to everyone.
            (true, false, Anonymous, vec![Status], ok.clone()),
            (true, false, Anonymous, vec![Ready], ok.clone()),
            (
                true,
                false,
                Anonymous,
                vec![Query],
                unauth("this needs the `query` permission: authenticate with HTTP basic auth"),
            ),
            (true, false, user("root"), vec![Execute], ok.clone()),
            (true, false, user("root"), vec![Leader], ok.clone()),
            (true, false, user("reader"), vec![Query], ok.clone()),
            (true, false, user("reader"), vec![Status], ok.clone()),
            (
                true,
                false,
                user("reader"),
                vec![Execute],
                forbid("user \"reader\" lacks the `execute` permission"),
            ),
            (true, false, user("ops"), vec![Join, JoinReadOnly], ok.clone()),
            (
                true,
                false,
                user("ops"),
                vec![Remove],
                forbid("user \"ops\" lacks the `remove` permission"),
            ),
            (
                true,
                false,
                user("ghost"),
                vec![Query],
                forbid(
                    "user \"ghost\" is not in the users file of this node (/etc/reef/users.json); \
                     the nodes' users files differ",
                ),
            ),
            // The token grants admin permissions only.
            (true, true, AdminToken, vec![Snapshot], ok.clone()),
            (true, false, AdminToken, vec![All], ok.clone()),
            (
                true,
                true,
                AdminToken,
                vec![Execute],
                unauth("this needs the `execute` permission: authenticate with HTTP basic auth"),
            ),
        ];
        for (on, token, who, need, want) in cases {
            let got = check(on.then_some(&u), token, &who, &need);
            assert_eq!(got, want, "auth {on}, token {token}, {who:?}, {need:?}");
        }
    }

    #[test]
    fn identities_cross_the_wire() {
        for id in [
            Identity::Anonymous,
            Identity::AdminToken,
            Identity::User("bob".into()),
            Identity::User("*".into()),
        ] {
            assert_eq!(Identity::from_wire(&id.to_wire()), id);
        }
    }

    #[test]
    fn perm_names_parse_back() {
        for p in Perm::EVERY {
            assert_eq!(Perm::parse(p.name()), Some(p));
        }
        assert_eq!(Perm::parse("join-read-replica"), Some(Perm::JoinReadOnly));
        assert_eq!(Perm::parse("Execute"), None);
    }
}
