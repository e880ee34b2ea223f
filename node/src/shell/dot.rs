//! The shell's dot commands (`.status`, `.level weak`, ...), parsed apart from running
//! them so the grammar is testable on its own.

/// Read consistency levels a node accepts.
pub const LEVELS: [&str; 4] = ["linearizable", "weak", "none", "strong"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dot {
    Help,
    Quit,
    Status,
    Nodes,
    Leader,
    /// Show (None) or set the read level.
    Level(Option<String>),
    /// Show (None) or set the timer.
    Timer(Option<bool>),
    Tables,
    Schema(Option<String>),
}

pub const HELP: &str = "\
.help             this text
.quit, .exit      leave the shell
.status           this node's /status
.nodes            cluster members from /nodes
.leader           which node leads
.level [LEVEL]    show or set the read level: linearizable, weak, none, strong
.timer on|off     print each statement's round-trip time
.tables           list tables
.schema [TABLE]   show CREATE statements
SQL statements end with ';' and may span lines. Reads go to /db/query, the rest to
/db/execute.";

/// Parses a line starting with '.'.
pub fn parse(line: &str) -> Result<Dot, String> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("").to_ascii_lowercase();
    let arg = words.next().map(str::to_string);
    if words.next().is_some() {
        return Err(format!("{cmd}: too many arguments (see .help)"));
    }
    let no_arg = |d: Dot| match &arg {
        None => Ok(d),
        Some(a) => Err(format!("{cmd} takes no argument, got {a:?}")),
    };
    match cmd.as_str() {
        ".help" | ".h" | ".?" => no_arg(Dot::Help),
        ".quit" | ".exit" | ".q" => no_arg(Dot::Quit),
        ".status" => no_arg(Dot::Status),
        ".nodes" => no_arg(Dot::Nodes),
        ".leader" => no_arg(Dot::Leader),
        ".tables" => no_arg(Dot::Tables),
        ".schema" => Ok(Dot::Schema(arg)),
        ".level" => match arg {
            None => Ok(Dot::Level(None)),
            Some(l) => {
                let l = l.to_ascii_lowercase();
                if LEVELS.contains(&l.as_str()) {
                    Ok(Dot::Level(Some(l)))
                } else {
                    Err(format!(
                        "unknown level {l:?}; use one of {}",
                        LEVELS.join(", ")
                    ))
                }
            }
        },
        ".timer" => match arg.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => Ok(Dot::Timer(None)),
            Some("on") => Ok(Dot::Timer(Some(true))),
            Some("off") => Ok(Dot::Timer(Some(false))),
            Some(other) => Err(format!(".timer takes on or off, not {other:?}")),
        },
        other => Err(format!("unknown command {other}; try .help")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_commands() {
        let ok = [
            (".help", Dot::Help),
            (".quit", Dot::Quit),
            (".exit", Dot::Quit),
            (".STATUS", Dot::Status),
            (".nodes", Dot::Nodes),
            (".leader", Dot::Leader),
            (".level", Dot::Level(None)),
            (".level WEAK", Dot::Level(Some("weak".into()))),
            (".timer on", Dot::Timer(Some(true))),
            (".timer off", Dot::Timer(Some(false))),
            (".timer", Dot::Timer(None)),
            (".tables", Dot::Tables),
            (".schema", Dot::Schema(None)),
            (".schema users", Dot::Schema(Some("users".into()))),
        ];
        for (line, want) in ok {
            assert_eq!(parse(line), Ok(want), "{line}");
        }
        for bad in [
            ".level eventual",
            ".timer maybe",
            ".frobnicate",
            ".status now",
            ".schema a b",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
