//! `reef-logtool` commands over a stopped node's raft directory: `info`, `dump`, `verify`.
//!
//! Plain `std::fs` reads through `reef_raftlog::recovery`, the same decoding and validation code
//! the log runs on open, so the tool sees exactly what a restarting node would. No executor.
//! Entries are decoded with the engine's `CommandBatch::decode` into the SQL they carry, and
//! snapshots' data files with the engine's snapshot reader (header in `info`, the whole
//! archive in `verify`), so the tool reads exactly what the node's engine would.

use raft::eraftpb::EntryType;
use reef_engine::{CommandBatch, Params, Value};
use reef_raftlog::recovery::{read_entry, recover, Recovered};
use reef_raftlog::snapshot::{verify_data, SnapshotStore, SNAP_DIR};
use reef_raftlog::LogError;
use std::fmt::Write as _;
use std::path::Path;

/// Turns an entry's data into a one-line description. The engine's decoder (a later issue)
/// plugs in here to print the SQL a command carries.
pub type Describe = dyn Fn(&[u8]) -> String;

/// Default description: size and a short hex prefix.
pub fn describe_bytes(data: &[u8]) -> String {
    let hex: String = data.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let more = if data.len() > 16 { ".." } else { "" };
    format!("{hex}{more}")
}

/// A normal entry's data as the command batch it carries: the idempotency key, flags and
/// each statement's SQL with its parameters, on one line (newlines in SQL shown as `\n`).
/// Data that does not decode is shown as bytes, with the reason.
pub fn describe_batch(data: &[u8]) -> String {
    if data.is_empty() {
        return "(empty: leader no-op)".into();
    }
    let b = match CommandBatch::decode(data) {
        Ok(b) => b,
        Err(e) => return format!("{} (not a command batch: {e})", describe_bytes(data)),
    };
    let mut o = format!(
        "batch v{} client={} seq={}{} now_ms={} seed={}:",
        b.version,
        b.client_id,
        b.seq,
        if b.transaction { " transaction" } else { "" },
        b.now_ms,
        b.seed
    );
    for (i, s) in b.statements.iter().enumerate() {
        let sep = if i == 0 { " " } else { "; " };
        let _ = write!(o, "{sep}{}", s.sql.replace('\n', "\\n"));
        match &s.params {
            Params::None => {}
            Params::Positional(v) => {
                let list: Vec<String> = v.iter().map(show_value).collect();
                let _ = write!(o, " [{}]", list.join(", "));
            }
            Params::Named(m) => {
                let list: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}={}", show_value(v)))
                    .collect();
                let _ = write!(o, " [{}]", list.join(", "));
            }
        }
    }
    o
}

/// A parameter as SQL would write it (long values cut, so a line stays readable).
fn show_value(v: &Value) -> String {
    const MAX: usize = 64;
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => reef_engine::format_real(*r),
        Value::Text(t) => {
            let cut: String = t.chars().take(MAX).collect();
            let more = if cut.len() < t.len() { "..." } else { "" };
            format!("'{}'{more}", cut.replace('\'', "''").replace('\n', "\\n"))
        }
        Value::Blob(b) => {
            let hex: String = b.iter().take(MAX / 2).map(|x| format!("{x:02X}")).collect();
            let more = if b.len() > MAX / 2 { "..." } else { "" };
            format!("x'{hex}'{more}")
        }
    }
}

fn recover_dir(dir: &Path) -> Result<Recovered, LogError> {
    // Cache budget 0: the tool reads entries from disk on demand.
    recover(dir, 0)
}

/// `info DIR`: hard state, conf state, floor, metadata, segments, snapshots.
pub fn info(dir: &Path) -> Result<String, LogError> {
    let r = recover_dir(dir)?;
    let mut o = String::new();
    let m = &r.meta.state;
    let hs = &m.hard_state;
    let _ = writeln!(o, "raft dir: {}", dir.display());
    let _ = writeln!(
        o,
        "hard state: term={} vote={} commit={} (generation {})",
        hs.term, hs.vote, hs.commit, r.meta.generation
    );
    let cs = &m.conf_state;
    let _ = writeln!(
        o,
        "conf state: voters={:?} learners={:?} voters_outgoing={:?} learners_next={:?} auto_leave={}",
        cs.voters, cs.learners, cs.voters_outgoing, cs.learners_next, cs.auto_leave
    );
    let _ = writeln!(
        o,
        "compaction floor: index={} term={}",
        m.floor_index, m.floor_term
    );
    for (k, v) in &m.metadata {
        let _ = writeln!(o, "metadata {k}: {} bytes", v.len());
    }
    let _ = writeln!(
        o,
        "log: first_index={} last_index={} entries={}",
        r.index.first_index(),
        r.index.last_index(),
        r.index.len()
    );
    for s in &r.segments {
        let range = s
            .entry_range
            .map(|(a, b)| format!("{a}..={b}"))
            .unwrap_or_else(|| "-".into());
        let state = if s.sealed {
            "sealed".to_string()
        } else if let Some((off, f)) = &s.torn {
            format!("open, records end at {off}, then non-record bytes ({f:?})")
        } else {
            "open".to_string()
        };
        let reset = s
            .reset
            .map(|(i, t)| format!(" reset@{i}/{t}"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "segment {} {}: entries {range} ({} entry records, {} records), {} of {} bytes used, {state}{reset}",
            s.header.seq,
            s.path.file_name().unwrap_or_default().to_string_lossy(),
            s.entry_records,
            s.records,
            s.end_offset,
            s.file_len
        );
    }
    let _ = writeln!(o, "spare segment files: {}", r.spares.len());
    let store = SnapshotStore::new(dir.join(SNAP_DIR));
    for m in store.list()? {
        let _ = writeln!(
            o,
            "snapshot index={} term={} size={} chunks={} x {} voters={:?}",
            m.index,
            m.term,
            m.size,
            m.chunks(),
            m.chunk_size,
            m.conf_state.voters
        );
        let path = store.data_path(m.index, m.term);
        match reef_engine::snapshot::read_header(&path) {
            Ok(h) => {
                let tables: Vec<String> = h
                    .tables
                    .iter()
                    .map(|t| format!("{}={} rows/{} indexes", t.name, t.rows, t.indexes))
                    .collect();
                let _ = writeln!(
                    o,
                    "  engine snapshot: format v{} index={} term={} size={} body={} crc32c={:08x} rows={} tables={} [{}]",
                    h.version,
                    h.index,
                    h.term,
                    h.size,
                    h.body_len,
                    h.body_crc,
                    h.total_rows,
                    h.tables.len(),
                    tables.join(", ")
                );
            }
            Err(e) => {
                let _ = writeln!(o, "  engine snapshot: unreadable: {e}");
            }
        }
    }
    Ok(o)
}

/// `dump DIR [--from N] [--to N]`: one line per live entry.
pub fn dump(
    dir: &Path,
    from: Option<u64>,
    to: Option<u64>,
    describe: &Describe,
) -> Result<String, LogError> {
    let r = recover_dir(dir)?;
    let lo = from
        .unwrap_or(r.index.first_index())
        .max(r.index.first_index());
    let hi = to.unwrap_or(r.index.last_index()).min(r.index.last_index());
    let mut o = String::new();
    for i in lo..=hi {
        if lo > hi {
            break;
        }
        let e = read_entry(&r, i)?;
        // Only normal entries carry command batches; conf changes are protobuf.
        let text = if e.get_entry_type() == EntryType::EntryNormal {
            describe(&e.data)
        } else {
            describe_bytes(&e.data)
        };
        let _ = writeln!(
            o,
            "{} term={} type={:?} size={} {}",
            e.index,
            e.term,
            e.get_entry_type(),
            e.data.len(),
            text
        );
    }
    Ok(o)
}

/// `verify DIR`: every record checksum (via recovery), every live entry decodes, every
/// snapshot chunk. Ok(summary) when clean.
pub fn verify(dir: &Path) -> Result<String, LogError> {
    let r = recover_dir(dir)?;
    for i in r.index.first_index()..=r.index.last_index() {
        if r.index.is_empty() {
            break;
        }
        read_entry(&r, i)?;
    }
    let records: usize = r.segments.iter().map(|s| s.records).sum();
    let store = SnapshotStore::new(dir.join(SNAP_DIR));
    let snaps = store.list()?;
    for m in &snaps {
        verify_data(&store, m)?;
        // The whole archive as the engine opens it: header, crc32c, bytecheck, runs.
        let path = store.data_path(m.index, m.term);
        reef_engine::snapshot::Mapped::open(&path).map_err(|e| LogError::Snapshot {
            snapshot: m.dir_name(),
            reason: e.to_string(),
        })?;
    }
    let mut notes = String::new();
    for w in &r.meta.warnings {
        let _ = write!(notes, "; note: hard state {w}");
    }
    if let Some(s) = r.segments.last() {
        if let Some((off, f)) = &s.torn {
            let _ = write!(
                notes,
                "; note: records of {} end at {off} and the bytes after are not a record ({f:?}): \
                 a torn last write or stale bytes of a recycled segment; the next open starts a \
                 fresh segment there",
                s.path.display()
            );
        }
    }
    Ok(format!(
        "ok: {} segments, {} records, entries {}..={}, {} snapshots verified{notes}",
        r.segments.len(),
        records,
        r.index.first_index(),
        r.index.last_index(),
        snaps.len()
    ))
}
