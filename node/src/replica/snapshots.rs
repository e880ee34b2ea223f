//! Moving snapshots between nodes.
//!
//! raft-rs decides *when* a follower needs a snapshot and produces a `MsgSnapshot` that
//! carries only metadata (index, term, membership). The bytes travel beside it on their own
//! QUIC stream, so heartbeats and appends never queue behind a large transfer:
//!
//! ```text
//! chunk 0   the MsgSnapshot itself (wire::encode_snapshot_header)
//! chunk 1   the snapshot's manifest (index, term, size, per-chunk crc32c, membership)
//! chunk 2.. the data file's chunks, each checked against the manifest on arrival
//! ```
//!
//! The receiver writes the chunks into its own snapshot store (a `.tmp` directory renamed
//! into place only when complete and synced) and only then steps the `MsgSnapshot` into
//! raft-rs, which makes the driver install it. A transfer that fails anywhere is abandoned
//! and reported, and raft-rs retries it later.

use super::driver::Event;
use super::wire;
use futures_channel::mpsc;
use raft::eraftpb::Message;
use reef_raftlog::{SnapshotManifest, SnapshotStore};
use std::rc::Rc;

/// Streams snapshot `(index, term)` to `msg.to`, then reports the outcome.
pub fn spawn_send(
    net: reef_net::Transport,
    store: Rc<SnapshotStore>,
    msg: Message,
    events: mpsc::UnboundedSender<Event>,
) {
    glommio::spawn_local(async move {
        let to = msg.to;
        let meta = msg.get_snapshot().get_metadata();
        let (index, term) = (meta.index, meta.term);
        let started = std::time::Instant::now();
        let result: Result<u64, String> = async {
            let reader = store
                .open(index, term)
                .await
                .map_err(|e| format!("opening snapshot {index}/{term}: {e}"))?;
            let manifest = reader.manifest().clone();
            let mut stream = net.send_snapshot(to).await.map_err(|e| e.to_string())?;
            stream
                .send_chunk(wire::encode_snapshot_header(&msg).into())
                .await
                .map_err(|e| e.to_string())?;
            let encoded = manifest.encode().map_err(|e| e.to_string())?;
            stream
                .send_chunk(encoded.into())
                .await
                .map_err(|e| e.to_string())?;
            for i in 0..manifest.chunks() {
                let chunk = reader
                    .read_chunk(i)
                    .await
                    .map_err(|e| format!("reading chunk {i}: {e}"))?;
                stream
                    .send_chunk(chunk.into())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            stream.finish().await.map_err(|e| e.to_string())?;
            Ok(manifest.size)
        }
        .await;
        match &result {
            Ok(bytes) => tracing::info!(
                peer = to,
                index,
                term,
                bytes,
                secs = started.elapsed().as_secs_f64(),
                "snapshot sent"
            ),
            Err(e) => tracing::warn!(peer = to, index, term, error = %e, "snapshot send failed"),
        }
        let _ = events.unbounded_send(Event::SnapshotSent {
            to,
            ok: result.is_ok(),
        });
    })
    .detach();
}

/// Receives a snapshot stream from `from` into the store, then hands its MsgSnapshot to the
/// driver.
pub fn spawn_receive(
    store: Rc<SnapshotStore>,
    from: u64,
    mut stream: reef_net::SnapshotReceiver,
    events: mpsc::UnboundedSender<Event>,
) {
    glommio::spawn_local(async move {
        let started = std::time::Instant::now();
        let result: Result<(Message, SnapshotManifest), String> = async {
            let header = next(&mut stream, "header").await?;
            let msg = wire::decode_snapshot_header(&header).map_err(|e| e.to_string())?;
            if msg.from != from {
                return Err(format!(
                    "snapshot header claims to be from node {} but the certificate says {from}",
                    msg.from
                ));
            }
            let name = format!("snapshot from node {from}");
            let manifest = SnapshotManifest::decode(&name, &next(&mut stream, "manifest").await?)
                .map_err(|e| e.to_string())?;
            let meta = msg.get_snapshot().get_metadata();
            if manifest.index != meta.index || manifest.term != meta.term {
                return Err(format!(
                    "manifest is for {}/{} but the message for {}/{}",
                    manifest.index, manifest.term, meta.index, meta.term
                ));
            }
            if store
                .list()
                .map_err(|e| e.to_string())?
                .iter()
                .any(|m| m.index == manifest.index && m.term == manifest.term)
            {
                // Already have it (a retried transfer after we stored it): drain and reuse.
                while let Some(chunk) = stream.next().await {
                    chunk.map_err(|e| e.to_string())?;
                }
                return Ok((msg, manifest));
            }
            let mut writer = store
                .receive(manifest.clone())
                .await
                .map_err(|e| e.to_string())?;
            let mut i = 0u32;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(e.to_string());
                    }
                };
                if let Err(e) = writer.write_chunk(i, &chunk).await {
                    let _ = writer.abort().await;
                    return Err(e.to_string());
                }
                i += 1;
            }
            let stored = writer
                .finish(Default::default(), Default::default())
                .await
                .map_err(|e| e.to_string())?;
            Ok((msg, stored))
        }
        .await;
        match result {
            Ok((msg, manifest)) => {
                tracing::info!(
                    peer = from,
                    index = manifest.index,
                    term = manifest.term,
                    bytes = manifest.size,
                    secs = started.elapsed().as_secs_f64(),
                    "snapshot received"
                );
                // Validated and mapped here, off shard 0, so installing it there only swaps
                // the state in.
                let mapped = open_off_shard(store.data_path(manifest.index, manifest.term)).await;
                let _ = events.unbounded_send(Event::SnapshotReceived {
                    msg,
                    index: manifest.index,
                    term: manifest.term,
                    mapped,
                });
            }
            Err(e) => tracing::warn!(peer = from, error = %e, "snapshot receive failed"),
        }
    })
    .detach();
}

async fn next(
    stream: &mut reef_net::SnapshotReceiver,
    what: &'static str,
) -> Result<bytes::Bytes, String> {
    match stream.next().await {
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(format!("reading the {what}: {e}")),
        None => Err(format!("stream ended before the {what}")),
    }
}

/// What a finished snapshot build reports to the driver.
/// Opens and validates the snapshot file at `path` on a helper thread (a full checksum pass,
/// ~0.1 s per GiB, that must not stall shard 0).
async fn open_off_shard(
    path: std::path::PathBuf,
) -> Result<std::sync::Arc<reef_engine::snapshot::Mapped>, String> {
    let (tx, rx) = futures_channel::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("reef-snapshot-open".into())
        .spawn(move || {
            let _ = tx.send(reef_engine::snapshot::Mapped::open(&path).map_err(|e| e.to_string()));
        });
    match spawned {
        Ok(_) => rx
            .await
            .unwrap_or_else(|_| Err("the snapshot open thread died".into())),
        Err(e) => Err(format!("starting the snapshot open thread: {e}")),
    }
}

pub struct Built {
    pub manifest: SnapshotManifest,
    pub secs: f64,
    /// The finished file, mapped and validated on a helper thread (a full checksum pass,
    /// ~0.1 s per GiB) so that shard 0 only swaps it in; the error if that failed.
    pub mapped: Result<std::sync::Arc<reef_engine::snapshot::Mapped>, String>,
}

/// Builds a snapshot of `view` into the store without blocking shard 0: the engine encodes
/// the archive on its own thread (it is CPU work over an immutable view), and hands bounded
/// chunks to a task on shard 0 that writes them through the store, which owns the files.
/// Writes keep being applied the whole time; the view does not change under the builder.
pub fn spawn_build(
    view: reef_engine::View,
    conf: raft::eraftpb::ConfState,
    metadata: std::collections::BTreeMap<String, Vec<u8>>,
    store: Rc<SnapshotStore>,
    events: mpsc::UnboundedSender<Event>,
) {
    let (index, term) = (view.applied_index(), view.applied_term());
    glommio::spawn_local(async move {
        let started = std::time::Instant::now();
        let result: Result<SnapshotManifest, String> = async {
            let mut writer = store
                .begin(index, term)
                .await
                .map_err(|e| format!("starting snapshot {index}/{term}: {e}"))?;
            // A few chunks in flight keep the encoder busy while the disk writes.
            let (mut tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
            let (done_tx, done_rx) = futures_channel::oneshot::channel();
            std::thread::Builder::new()
                .name("reef-snapshot".into())
                .spawn(move || {
                    let r = reef_engine::snapshot::write(&view, &mut |bytes: &[u8]| {
                        futures::executor::block_on(futures::SinkExt::send(&mut tx, bytes.to_vec()))
                            .map_err(|_| std::io::Error::other("snapshot writer went away"))
                    });
                    let _ = done_tx.send(r.map_err(|e| e.to_string()));
                })
                .map_err(|e| format!("starting the snapshot thread: {e}"))?;
            use futures::StreamExt;
            while let Some(chunk) = rx.next().await {
                if let Err(e) = writer.write(&chunk).await {
                    let _ = writer.abort().await;
                    return Err(format!("writing snapshot {index}/{term}: {e}"));
                }
            }
            match done_rx.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    let _ = writer.abort().await;
                    return Err(format!("encoding snapshot {index}/{term}: {e}"));
                }
                Err(_) => {
                    let _ = writer.abort().await;
                    return Err("the snapshot thread died".into());
                }
            }
            writer
                .finish(conf, metadata)
                .await
                .map_err(|e| format!("finishing snapshot {index}/{term}: {e}"))
        }
        .await;
        let built = match result {
            Ok(manifest) => {
                let mapped = open_off_shard(store.data_path(index, term)).await;
                Ok(Built {
                    manifest,
                    secs: started.elapsed().as_secs_f64(),
                    mapped,
                })
            }
            Err(e) => Err(e),
        };
        let _ = events.unbounded_send(Event::SnapshotBuilt(built));
    })
    .detach();
}
