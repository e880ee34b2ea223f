//! `reefdb shell [URL]`: an interactive SQL shell for a ReefDB node (any rqlite-compatible
//! node), and `reefdb status` ([`status`]).
//!
//! Interactive on a terminal (rustyline line editing, history in `~/.reefdb_history`,
//! statements may span lines and end with `;`); when stdin is not a terminal it reads
//! the whole input the same way without prompts, which is how scripts and tests drive it.
//! Reads go to `/db/query` at the session's level, everything else to `/db/execute`;
//! errors print the server's own message. `.tables` and `.schema` query `sqlite_master`,
//! which the node must provide (rqlite does; the engine is asked to).

pub mod dot;
pub mod split;
pub mod status;
pub mod table;

pub use status::{status, StatusArgs};

use crate::client::rqlite::{stmt, RqliteClient};
use crate::client::{ClientError, Endpoint, HttpConn, NodeInfo, NodeStatus};
use dot::Dot;
use split::Splitter;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("line editor: {0}")]
    Editor(String),
    #[error("cannot read input: {0}")]
    Input(#[from] std::io::Error),
    #[error("{0} statement(s) or command(s) failed")]
    Failed(usize),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ShellArgs {
    /// The node's HTTP API.
    #[arg(default_value = "http://127.0.0.1:4001")]
    pub url: String,
    /// Read consistency level for queries (linearizable, weak, none, strong).
    #[arg(long)]
    pub level: Option<String>,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = crate::bench::units::parse_duration)]
    pub timeout: Duration,
    /// History file [default: ~/.reefdb_history].
    #[arg(long)]
    pub history: Option<PathBuf>,
}

/// What to do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// One shell session against one node, writing results to `out` and errors to `err`.
pub struct Session<O: Write, E: Write> {
    client: RqliteClient,
    level: Option<String>,
    timer: bool,
    failures: usize,
    out: O,
    err: E,
}

impl<O: Write, E: Write> Session<O, E> {
    pub fn new(client: RqliteClient, level: Option<String>, out: O, err: E) -> Self {
        Session {
            client,
            level,
            timer: false,
            failures: 0,
            out,
            err,
        }
    }

    /// Statements and commands that failed so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    fn fail(&mut self, msg: &str) {
        self.failures += 1;
        let _ = writeln!(self.err, "Error: {msg}");
    }

    /// Runs one complete SQL statement.
    pub fn statement(&mut self, sql: &str) {
        let started = Instant::now();
        let body = [stmt(sql, &[])];
        if split::is_query(sql) {
            match self.client.query(&body, self.level.as_deref()) {
                Ok(resp) => {
                    if let Some(e) = resp.error {
                        self.fail(&e);
                    }
                    for r in resp.results {
                        if let Some(e) = r.error {
                            self.fail(&e);
                            continue;
                        }
                        let _ = write!(self.out, "{}", table::render(&r.columns, &r.values));
                        let n = r.values.len();
                        let _ = writeln!(self.out, "({n} row{})", if n == 1 { "" } else { "s" });
                    }
                }
                Err(e) => self.fail(&e.to_string()),
            }
        } else {
            match self.client.execute(&body) {
                Ok(resp) => {
                    if let Some(e) = resp.error {
                        self.fail(&e);
                    }
                    for r in resp.results {
                        if let Some(e) = r.error {
                            self.fail(&e);
                            continue;
                        }
                        let n = r.rows_affected.unwrap_or(0);
                        let mut line = format!("{n} row{} affected", if n == 1 { "" } else { "s" });
                        if let (Some(id), true) = (r.last_insert_id, n > 0) {
                            if split::strip_leading_comments(sql)
                                .to_ascii_uppercase()
                                .starts_with("INSERT")
                            {
                                line.push_str(&format!(", last insert id {id}"));
                            }
                        }
                        let _ = writeln!(self.out, "{line}");
                    }
                }
                Err(e) => self.fail(&e.to_string()),
            }
        }
        if self.timer {
            let _ = writeln!(
                self.out,
                "Run Time: {:.3} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
    }

    /// Runs one dot command line.
    pub fn dot(&mut self, line: &str) -> Flow {
        let cmd = match dot::parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.fail(&e);
                return Flow::Continue;
            }
        };
        match cmd {
            Dot::Help => {
                let _ = writeln!(self.out, "{}", dot::HELP);
            }
            Dot::Quit => return Flow::Quit,
            Dot::Status => match self.client.status() {
                Ok(serde_json::Value::Object(map)) => {
                    let w = map.keys().map(|k| k.len()).max().unwrap_or(0);
                    for (k, v) in map {
                        let v = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        let _ = writeln!(self.out, "{k:<w$}  {v}");
                    }
                }
                Ok(other) => {
                    let _ = writeln!(self.out, "{other}");
                }
                Err(e) => self.fail(&e.to_string()),
            },
            Dot::Nodes => match self.client.nodes() {
                Ok(v) => {
                    let nodes = NodeInfo::list_from_json(&v);
                    let cols: Vec<String> =
                        ["id", "role", "http_addr", "raft_addr", "reachable", "match_index"]
                            .map(String::from)
                            .to_vec();
                    let s = |o: Option<String>| o.map_or(serde_json::Value::Null, Into::into);
                    let rows: Vec<Vec<serde_json::Value>> = nodes
                        .into_iter()
                        .map(|n| {
                            vec![
                                n.id.into(),
                                s(n.role),
                                s(n.http_addr),
                                s(n.raft_addr),
                                n.reachable.map_or(serde_json::Value::Null, Into::into),
                                n.match_index.map_or(serde_json::Value::Null, Into::into),
                            ]
                        })
                        .collect();
                    let _ = write!(self.out, "{}", table::render(&cols, &rows));
                }
                Err(e) => self.fail(&e.to_string()),
            },
            Dot::Leader => self.leader(),
            Dot::Level(None) => {
                let _ = writeln!(
                    self.out,
                    "level: {}",
                    self.level.as_deref().unwrap_or("(node default: linearizable)")
                );
            }
            Dot::Level(Some(l)) => self.level = Some(l),
            Dot::Timer(None) => {
                let _ = writeln!(self.out, "timer: {}", if self.timer { "on" } else { "off" });
            }
            Dot::Timer(Some(on)) => self.timer = on,
            Dot::Tables => {
                self.meta("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", &[])
            }
            Dot::Schema(table) => match table {
                Some(t) => self.meta(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = ? ORDER BY type DESC, name",
                    &[t.into()],
                ),
                None => self.meta(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY tbl_name, type DESC, name",
                    &[],
                ),
            },
        }
        Flow::Continue
    }

    /// Prints the first column of a metadata query, one value per line.
    fn meta(&mut self, sql: &str, args: &[serde_json::Value]) {
        match self.client.query(&[stmt(sql, args)], self.level.as_deref()) {
            Ok(resp) => {
                for r in resp.results {
                    if let Some(e) = r.error {
                        self.fail(&format!("{e} (the node must provide sqlite_master)"));
                        continue;
                    }
                    for row in r.values {
                        if let Some(v) = row.first() {
                            let text = match v {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            let _ = writeln!(
                                self.out,
                                "{text}{}",
                                if sql.starts_with("SELECT sql") {
                                    ";"
                                } else {
                                    ""
                                }
                            );
                        }
                    }
                }
            }
            Err(e) => self.fail(&e.to_string()),
        }
    }

    fn leader(&mut self) {
        let status = match self.client.status() {
            Ok(v) => NodeStatus::from_json(&v),
            Err(e) => return self.fail(&e.to_string()),
        };
        let nodes = self
            .client
            .nodes()
            .map(|v| NodeInfo::list_from_json(&v))
            .unwrap_or_default();
        let leader = if status.is_leader() {
            status.id.clone()
        } else {
            status.leader_id.clone()
        }
        .or_else(|| {
            nodes
                .iter()
                .find(|n| n.role.as_deref() == Some("leader"))
                .map(|n| n.id.clone())
        });
        match leader {
            None => {
                let _ = writeln!(self.out, "no leader known to this node");
            }
            Some(id) => {
                let info = nodes.iter().find(|n| n.id == id);
                let http = info.and_then(|n| n.http_addr.clone());
                let raft = info.and_then(|n| n.raft_addr.clone());
                let _ = writeln!(
                    self.out,
                    "leader: node {id} (http {}, raft {}){}",
                    http.as_deref().unwrap_or("?"),
                    raft.as_deref().unwrap_or("?"),
                    if status.is_leader() {
                        ", this node"
                    } else {
                        ""
                    }
                );
            }
        }
    }

    /// Feeds one input line through `splitter`; returns Quit on `.quit`.
    pub fn line(&mut self, splitter: &mut Splitter, line: &str) -> Flow {
        if !splitter.is_pending() && line.trim_start().starts_with('.') {
            return self.dot(line.trim());
        }
        for s in splitter.push_line(line) {
            self.statement(&s);
        }
        Flow::Continue
    }

    /// Runs a whole non-interactive input.
    pub fn script<R: BufRead>(&mut self, input: R) -> Result<(), ShellError> {
        let mut splitter = Splitter::new();
        for line in input.lines() {
            if self.line(&mut splitter, &line?) == Flow::Quit {
                return Ok(());
            }
        }
        if let Some(rest) = splitter.finish() {
            self.statement(&rest);
        }
        Ok(())
    }
}

fn history_path(args: &ShellArgs) -> Option<PathBuf> {
    args.history
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".reefdb_history")))
}

/// Entry point of `reefdb shell`.
pub fn run(args: ShellArgs) -> Result<(), ShellError> {
    if let Some(l) = &args.level {
        dot::parse(&format!(".level {l}")).map_err(|e| {
            ShellError::Client(ClientError::BadUrl {
                url: args.url.clone(),
                reason: e,
            })
        })?;
    }
    let conn = HttpConn::new(Endpoint::parse(&args.url)?, args.timeout)
        .with_max_idle(Duration::from_secs(2));
    let client = RqliteClient::with_conn(conn);
    let mut session = Session::new(
        client,
        args.level.clone(),
        std::io::stdout(),
        std::io::stderr(),
    );
    if !std::io::stdin().is_terminal() {
        session.script(std::io::stdin().lock())?;
        return match session.failures() {
            0 => Ok(()),
            n => Err(ShellError::Failed(n)),
        };
    }
    let mut editor =
        rustyline::DefaultEditor::new().map_err(|e| ShellError::Editor(e.to_string()))?;
    let history = history_path(&args);
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "reefdb shell connected to {}. Statements end with ';'. Type .help for commands.",
        Endpoint::parse(&args.url)?
    );
    let mut splitter = Splitter::new();
    loop {
        let prompt = if splitter.is_pending() {
            "   ...> "
        } else {
            "reefdb> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if session.line(&mut splitter, &line) == Flow::Quit {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {
                // Ctrl-C abandons the statement being typed, as in sqlite3.
                splitter = Splitter::new();
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(ShellError::Editor(e.to_string())),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
