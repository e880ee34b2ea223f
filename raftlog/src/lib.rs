//! reef-raftlog: ReefDB's durable Raft storage. It knows nothing of SQL.
//!
//! # Ownership and data flow
//!
//! Two parts, one owner each, on shard 0's glommio executor:
//!
//! - [`RaftLog`] is owned by the Raft driver (it is the `Storage` inside raft-rs's `RawNode`,
//!   reached with `raw_node.mut_store()`). It stages: `append`, `set_hard_state`,
//!   `apply_snapshot`, `compact` update the in-memory index and entry cache *at once* (raft-rs
//!   reads what it staged through `&self`) and decide where every record goes on disk. The
//!   resulting records are encoded at once into the last write of a staging queue (into DMA
//!   memory, at the offset within its block where they will land: `stage.rs`) shared with:
//! - the writer task (`writer.rs`), spawned by [`RaftLog::open`], the only owner of the open
//!   files. It takes everything queued as one flush: one aligned O_DIRECT write through
//!   glommio `DmaFile` (rewriting the partial tail block kept in memory, usually from the very
//!   buffer the records were encoded into), the hard-state slot
//!   if it changed, and the sync. At most one flush is in flight; whatever is staged meanwhile
//!   is queued, encoded, for the next one, which starts as soon as it completes (group commit).
//!
//! [`RaftLog::flush`] returns a `'static` future that resolves when everything staged before
//! the call is durable (all requests made before a flush starts share one completion), so the
//! driver keeps handling Readys while it waits:
//!
//! ```ignore
//! let mut rd = raw_node.ready();
//! transport.send(rd.take_messages());
//! if !rd.snapshot().is_empty() { raw_node.mut_store().apply_snapshot(rd.snapshot().get_metadata())?; }
//! raw_node.mut_store().append(rd.entries())?;
//! if let Some(hs) = rd.hs() { raw_node.mut_store().set_hard_state(hs)?; }
//! let durable = raw_node.mut_store().flush();          // does not borrow the log
//! let (persisted, number) = (rd.take_persisted_messages(), rd.number());
//! let light = raw_node.advance_append_async(rd);
//! // later, when `durable` resolves Ok(report):
//! raw_node.on_persist_ready(number); transport.send(persisted);
//! ```
//! The two halves share one `Rc` (see `writer::Shared`): the staging queue (a `RefCell`, so an
//! append can extend the queued write in place and the writer can take the whole queue in one
//! step), and, written only by the writer, how many ops are durable (a `Cell<u64>`, used to
//! never evict non-durable entries from the cache) and the failure, if any (a `OnceCell`). No
//! borrow is held across an await.
//!
//! # Durability
//!
//! Durable means written and synced: by default segments and the hard-state file are opened
//! with `O_DSYNC` (a completed write is durable), selectable to plain writes plus `fdatasync`
//! with [`SyncMode::Fdatasync`]. Measured on this machine (`cargo bench --bench raftlog`, same
//! run, quiet disk): raw 4 KiB O_DIRECT write + fdatasync p50 123 us, raw 4 KiB O_DSYNC write
//! p50 113 us (into zero-filled blocks; 152 us into fallocated, unwritten blocks); the log's
//! durable 1 KiB append p50 111 us with O_DSYNC vs 137 us with fdatasync. O_DSYNC is faster
//! there, so it is the default. Caveat: while other processes loaded the two shared cores,
//! O_DSYNC writes (raw and the log's alike) degraded to 1-4 ms p50 while write + fdatasync
//! stayed at 140-170 us; revisit the default on production hardware.
//!
//! Group commit, bench (b) (64 appenders on one executor, each awaiting its own 1 KiB append):
//! 64 appends per flush; about 5,600 instructions per append on the executor (callgrind, the
//! bench's own entry building included; 8,400 when every append was a channel message with
//! its own reply channel); 0.8 us user + 2.1 us system CPU per append. Quietest run: 204,064
//! entries/s, p50 307 us, 0.53 of the raw bound (64 x 1 KiB per 64 KiB write + fdatasync, p50
//! 165 us in bursts between (b)'s rounds; per round 0.43-0.58). What is left of each cycle is
//! mostly the kernel: the inline O_DIRECT submission, and, while the entry cache fills, page
//! faults for the appenders' retained entries (~1.2 us per append). New segments are
//! zero-filled ahead of use (in the
//! background) and deleted segments are recycled, so appends overwrite allocated, written
//! blocks and need no metadata update ([`Preallocate`]).
//!
//! The commit index is persisted lazily (with term/vote/membership changes, compaction and
//! close), which raft-rs tolerates: `initial_state` clamps it into
//! `[first_index - 1, last_index]`, and a lower commit is relearned from the leader.
//!
//! # Failure
//!
//! A failed write or sync (ENOSPC, EIO, ...) is returned as a typed [`LogError`] from the flush
//! future of every appender waiting on it, and the log becomes **failed**: every later stage or
//! flush returns `LogError::Failed`, nothing more is written, and nothing later is ever reported
//! durable. The node must restart; recovery on reopen decides what reached the disk (a torn
//! tail is cut off). Nothing panics on I/O errors.
//!
//! # On disk (`<raft_dir>/`)
//!
//! - `log/<seq:020>.seg`: segments (see [`format`]): a 4 KiB header block (magic, version,
//!   sequence, first index, random salt, capacity, crc32c), then 8-byte-aligned records framed
//!   with length, kind, flush number and two crc32c (header, payload) seeded with the salt.
//!   Record kinds: entry (protobuf `Entry`), truncate (a follower dropping a suffix), reset
//!   (snapshot installed; always first in a fresh segment), seal (segment complete).
//!   A segment gets its final name only after its header is durable; every segment but the
//!   last ends with a seal, and opening the log seals the last one and starts a new one, so a
//!   torn tail is never appended to. `log/spare-*`: preallocated or recycled files.
//! - `hardstate`: two checksummed 64 KiB slots, written alternately (see [`meta`]): term,
//!   vote, commit, ConfState, compaction floor and the metadata map.
//! - `snap/`: the snapshot store (see [`snapshot`]). Deviation from the target design: one
//!   contiguous data file per snapshot (the engine mmaps it), split logically into 1 MiB
//!   chunks whose crc32c are listed in the manifest, instead of one file per chunk.
//!
//! # Recovery
//!
//! [`recovery::recover`] (plain `std::fs`, shared with `reef-logtool`) walks the segments in
//! order, replays records into the index and refuses to open with [`LogError::Corrupt`] (file
//! and byte offset) when a non-last segment is not cleanly sealed, a header is bad, entries
//! leave a gap, or a damaged record in the last segment is followed by a record of a *later
//! completed* flush (so it was acknowledged). A damaged record followed only by its own or the
//! next flush is a torn tail and is cut off.

pub mod config;
pub mod error;
pub mod format;
pub mod index;
pub mod log;
pub mod meta;
pub mod recovery;
pub mod scan;
pub mod snapshot;
mod stage;
mod writer;

pub use config::{LogConfig, Preallocate, SyncMode};
pub use error::{LogError, Result};
pub use log::{LogStats, RaftLog};
pub use snapshot::{SnapshotManifest, SnapshotReader, SnapshotStore, SnapshotWriter};
pub use writer::{FlushObserver, FlushReport};
