//! Encoding a view as a snapshot: header, streamed rkyv body, footer, handed to the caller
//! in chunks of at most [`CHUNK`] bytes. Reads only the immutable view, so it runs on any
//! thread while the engine keeps applying.

use std::io;

use rkyv::rancor;
use rkyv::ser::writer::IoWriter;

use super::format::{self, TableCount};
use super::schema::{
    DedupOut, FillOut, IndexDefOut, IndexOut, RecordedOut, ResultOut, Root, RowsOut, StoreOut,
    TableOut, ValueOut,
};
use super::{Error, SnapshotInfo};
use crate::dedup::{Generation, Recorded};
use crate::result::{Rows, StatementResult};
use crate::value::Value;
use crate::view::View;

/// The most bytes handed to the sink in one call.
pub const CHUNK: usize = 1 << 20;

pub(crate) fn value_out(v: &Value) -> ValueOut {
    match v {
        Value::Null => ValueOut::Null,
        Value::Integer(i) => ValueOut::Integer(*i),
        Value::Real(r) => ValueOut::Real(*r),
        Value::Text(t) => ValueOut::Text(t.to_string()),
        Value::Blob(b) => ValueOut::Blob(b.to_vec()),
    }
}

fn rows_out(r: &Rows) -> RowsOut {
    RowsOut {
        columns: r.columns.to_vec(),
        types: r.types.to_vec(),
        values: r
            .values
            .iter()
            .map(|row| row.iter().map(value_out).collect())
            .collect(),
    }
}

fn dedup_out(g: &Generation) -> Vec<DedupOut> {
    g.iter()
        .map(|(&(client, seq), r)| DedupOut {
            client,
            seq,
            result: match r {
                Recorded::Exec {
                    last_insert_id,
                    rows_affected,
                } => RecordedOut::Exec {
                    last_insert_id: *last_insert_id,
                    rows_affected: *rows_affected,
                },
                Recorded::Shared(b) => RecordedOut::Batch(
                    b.iter()
                        .map(|s| match s {
                            StatementResult::Exec(e) => ResultOut::Exec {
                                last_insert_id: e.last_insert_id,
                                rows_affected: e.rows_affected,
                                returning: e.returning.as_ref().map(rows_out),
                            },
                            StatementResult::Query(r) => ResultOut::Query(rows_out(r)),
                            StatementResult::Error(e) => ResultOut::Error(e.error.clone()),
                        })
                        .collect(),
                ),
            },
        })
        .collect()
}

/// The archive root for a view, holding O(1) clones of its stores (rows are streamed
/// later, during serialization), plus the header's table list.
fn root_of(view: &View) -> (Root, Vec<TableCount>) {
    let st = view.state();
    let cat = &st.catalog;
    let mut tables = Vec::new();
    let mut counts = Vec::new();
    for (key, def) in &cat.tables {
        let data = st.tables.get(key.as_str()).cloned().unwrap_or_default();
        counts.push(TableCount {
            name: key.clone(),
            rows: data.rows.len(),
            indexes: data.indexes.len() as u32,
        });
        tables.push(TableOut {
            name: key.clone(),
            sql: def.sql.clone(),
            fills: def
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.fill.is_null())
                .map(|(i, c)| FillOut {
                    column: i as u32,
                    value: value_out(&c.fill),
                })
                .collect(),
            autoinc_seq: data.autoinc_seq,
            rows: StoreOut::Rows(data.rows.clone()),
            indexes: data
                .indexes
                .iter()
                .map(|(name, s)| IndexOut {
                    name: name.to_string(),
                    store: StoreOut::Index(s.clone()),
                })
                .collect(),
        });
    }
    let (previous, current) = st.dedup.generations();
    let root = Root {
        index: st.applied_index,
        term: st.applied_term,
        tables,
        indexes: cat
            .indexes
            .iter()
            .map(|(name, ix)| IndexDefOut {
                name: name.clone(),
                sql: ix.sql.clone(),
            })
            .collect(),
        views: cat.views.values().map(|v| v.sql.clone()).collect(),
        triggers: cat.triggers.values().map(|t| t.sql.clone()).collect(),
        dedup_previous: dedup_out(previous),
        dedup_current: dedup_out(current),
    };
    (root, counts)
}

/// Buffers the body into chunks of at most [`CHUNK`] bytes and checksums each chunk.
struct Sink<'a> {
    out: &'a mut dyn FnMut(&[u8]) -> io::Result<()>,
    buf: Vec<u8>,
    crc: u32,
    len: u64,
    /// The sink's own error, kept whole (rkyv's error type only carries its text).
    failed: Option<io::Error>,
}

impl Sink<'_> {
    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            // Checksummed here, a chunk at a time: per-write checksums of the many small
            // slices rkyv writes cost more than the checksum itself.
            self.crc = crc32c::crc32c_append(self.crc, &self.buf);
            let r = (self.out)(&self.buf);
            self.buf.clear();
            if let Err(e) = r {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                return Err(copy);
            }
        }
        Ok(())
    }
}

impl io::Write for Sink<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.len += b.len() as u64;
        let mut rest = b;
        while !rest.is_empty() {
            let n = (CHUNK - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.buf.len() == CHUNK {
                self.flush_buf()?;
            }
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn write(
    view: &View,
    out: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<SnapshotInfo, Error> {
    let (root, counts) = root_of(view);
    let header = format::encode_header(root.index, root.term, &counts);
    out(&header).map_err(Error::Sink)?;
    let mut sink = Sink {
        out,
        buf: Vec::with_capacity(CHUNK),
        crc: 0,
        len: 0,
        failed: None,
    };
    let r = rkyv::api::high::to_bytes_in::<_, rancor::Error>(&root, IoWriter::new(&mut sink))
        .map(|_| ())
        .map_err(|e| e.to_string());
    if let Some(e) = sink.failed.take() {
        return Err(Error::Sink(e));
    }
    r.map_err(Error::Encode)?;
    sink.flush_buf().map_err(|e| match sink.failed.take() {
        Some(orig) => Error::Sink(orig),
        None => Error::Sink(e),
    })?;
    let (body_len, body_crc) = (sink.len, sink.crc);
    let footer = format::encode_footer(body_len, body_crc);
    out(&footer).map_err(Error::Sink)?;
    view.state().built.remember(view);
    Ok(SnapshotInfo {
        index: root.index,
        term: root.term,
        size: header.len() as u64 + body_len + footer.len() as u64,
        body_crc,
        tables: counts.len(),
        rows: counts.iter().map(|t| t.rows).sum(),
    })
}
