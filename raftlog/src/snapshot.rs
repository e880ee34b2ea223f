//! The snapshot store under `<raft_dir>/snap/`.
//!
//! Deviation from the target design ("manifest plus chunk files"): the engine writes its
//! snapshot as ONE contiguous rkyv archive that it memory-maps for zero-copy reads, so a
//! snapshot here is a directory holding one `data` file plus a `manifest`. The data file is
//! split *logically* into fixed-size chunks (default 1 MiB); the manifest lists each chunk's
//! crc32c, so chunks can still be streamed to a follower one by one and each is verified on
//! arrival, while the engine maps the whole file.
//!
//! ```text
//! snap/snap-<index:020>-<term:020>/manifest   see `SnapshotManifest::encode`
//! snap/snap-<index:020>-<term:020>/data       the archive bytes
//! snap/snap-<index:020>-<term:020>.tmp/       a snapshot being written or received
//! ```
//! A snapshot becomes visible only by renaming its fully written and fsync'd `.tmp` directory,
//! then fsyncing `snap/`: a visible snapshot is always complete.

use crate::error::{LogError, Result};
use crate::format::{u32_at, u64_at};
use glommio::io::{BufferedFile, Directory, DmaFile};
use protobuf::Message;
use raft::eraftpb::{ConfState, SnapshotMetadata};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name of the snapshot directory inside the raft directory.
pub const SNAP_DIR: &str = "snap";
/// Default chunk size.
pub const DEFAULT_CHUNK: u32 = 1 << 20;
const MANIFEST: &str = "manifest";
const DATA: &str = "data";
const MAGIC: &[u8; 8] = b"REEFSNP\x01";
const MAX_MANIFEST: usize = 64 << 20;

/// Everything known about a snapshot without reading its data.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotManifest {
    /// Last log index the snapshot covers.
    pub index: u64,
    /// Term of that index.
    pub term: u64,
    /// Membership at that index.
    pub conf_state: ConfState,
    /// Small opaque values (the node stores the peer address book here too).
    pub metadata: BTreeMap<String, Vec<u8>>,
    /// Size of the data file.
    pub size: u64,
    /// Chunk size used for the checksums.
    pub chunk_size: u32,
    /// crc32c of each chunk, in order.
    pub chunk_crcs: Vec<u32>,
}

impl SnapshotManifest {
    /// Directory name of this snapshot.
    pub fn dir_name(&self) -> String {
        dir_name(self.index, self.term)
    }

    /// Number of chunks.
    pub fn chunks(&self) -> u32 {
        self.chunk_crcs.len() as u32
    }

    /// Length of chunk `i`.
    pub fn chunk_len(&self, i: u32) -> u64 {
        let start = u64::from(i) * u64::from(self.chunk_size);
        (self.size - start).min(u64::from(self.chunk_size))
    }

    /// raft-rs metadata for `Storage::snapshot`.
    pub fn to_raft_metadata(&self) -> SnapshotMetadata {
        let mut m = SnapshotMetadata {
            index: self.index,
            term: self.term,
            ..Default::default()
        };
        m.set_conf_state(self.conf_state.clone());
        m
    }

    /// Binary form: magic, index, term, size, chunk_size, n, crcs, conf state, metadata, crc32c.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut b = Vec::with_capacity(64 + 4 * self.chunk_crcs.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.index.to_le_bytes());
        b.extend_from_slice(&self.term.to_le_bytes());
        b.extend_from_slice(&self.size.to_le_bytes());
        b.extend_from_slice(&self.chunk_size.to_le_bytes());
        b.extend_from_slice(&(self.chunk_crcs.len() as u32).to_le_bytes());
        for c in &self.chunk_crcs {
            b.extend_from_slice(&c.to_le_bytes());
        }
        let cs = self
            .conf_state
            .write_to_bytes()
            .map_err(|e| LogError::Invalid(format!("cannot encode ConfState: {e}")))?;
        b.extend_from_slice(&(cs.len() as u32).to_le_bytes());
        b.extend_from_slice(&cs);
        b.extend_from_slice(&(self.metadata.len() as u32).to_le_bytes());
        for (k, v) in &self.metadata {
            b.extend_from_slice(&(k.len() as u32).to_le_bytes());
            b.extend_from_slice(k.as_bytes());
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(v);
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        Ok(b)
    }

    /// Parses and checks a manifest (untrusted bytes: every length is bounded).
    pub fn decode(name: &str, b: &[u8]) -> Result<SnapshotManifest> {
        let bad = |reason: &str| LogError::Snapshot {
            snapshot: name.to_string(),
            reason: format!("manifest: {reason}"),
        };
        if b.len() < 8 + 8 * 3 + 8 + 4 || &b[0..8] != MAGIC {
            return Err(bad("bad magic or too short"));
        }
        let body = &b[..b.len() - 4];
        if crc32c::crc32c(body) != u32_at(b, b.len() - 4) {
            return Err(bad("checksum mismatch"));
        }
        let mut at = 8usize;
        let mut take = |n: usize| -> Result<&[u8]> {
            let s = body
                .get(at..at.checked_add(n).ok_or_else(|| bad("length overflow"))?)
                .ok_or_else(|| bad("truncated"))?;
            at += n;
            Ok(s)
        };
        let index = u64_at(take(8)?, 0);
        let term = u64_at(take(8)?, 0);
        let size = u64_at(take(8)?, 0);
        let chunk_size = u32_at(take(4)?, 0);
        let n = u32_at(take(4)?, 0) as u64;
        if chunk_size == 0 || n != size.div_ceil(u64::from(chunk_size)) {
            return Err(bad("chunk count does not match size / chunk size"));
        }
        let mut chunk_crcs = Vec::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            chunk_crcs.push(u32_at(take(4)?, 0));
        }
        let cs_len = u32_at(take(4)?, 0) as usize;
        let conf_state = ConfState::parse_from_bytes(take(cs_len)?)
            .map_err(|e| bad(&format!("conf state: {e}")))?;
        let m = u32_at(take(4)?, 0);
        let mut metadata = BTreeMap::new();
        for _ in 0..m {
            let kl = u32_at(take(4)?, 0) as usize;
            let k = std::str::from_utf8(take(kl)?)
                .map_err(|_| bad("metadata key is not UTF-8"))?
                .to_string();
            let vl = u32_at(take(4)?, 0) as usize;
            metadata.insert(k, take(vl)?.to_vec());
        }
        if at != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(SnapshotManifest {
            index,
            term,
            conf_state,
            metadata,
            size,
            chunk_size,
            chunk_crcs,
        })
    }
}

fn dir_name(index: u64, term: u64) -> String {
    format!("snap-{index:020}-{term:020}")
}

fn parse_dir_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("snap-")?;
    let (i, t) = rest.split_once('-')?;
    if i.len() != 20 || t.len() != 20 {
        return None;
    }
    Some((i.parse().ok()?, t.parse().ok()?))
}

fn gio<'a, T>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(glommio::GlommioError<T>) -> LogError + 'a {
    move |e| LogError::glommio(op, path, e)
}

/// The snapshot directory of one node. Cheap to clone; holds only the path, so it can be used
/// from any shard.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    /// A store rooted at `dir` (normally `<raft_dir>/snap`). Nothing is touched yet.
    pub fn new(dir: impl Into<PathBuf>) -> SnapshotStore {
        SnapshotStore { dir: dir.into() }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Finished snapshots, oldest first (plain std reads: also used by tools).
    pub fn list(&self) -> Result<Vec<SnapshotManifest>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(LogError::io("listing", &self.dir, &e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| LogError::io("listing", &self.dir, &e))?;
            let name = ent.file_name().to_string_lossy().to_string();
            let Some((index, term)) = parse_dir_name(&name) else {
                continue;
            };
            let m = self.read_manifest(&name)?;
            if m.index != index || m.term != term {
                return Err(LogError::Snapshot {
                    snapshot: name,
                    reason: "manifest does not match the directory name".into(),
                });
            }
            out.push(m);
        }
        out.sort_by_key(|m| (m.index, m.term));
        Ok(out)
    }

    /// The newest finished snapshot.
    pub fn latest(&self) -> Result<Option<SnapshotManifest>> {
        Ok(self.list()?.pop())
    }

    fn read_manifest(&self, name: &str) -> Result<SnapshotManifest> {
        let path = self.dir.join(name).join(MANIFEST);
        let len = std::fs::metadata(&path)
            .map_err(|e| LogError::io("reading", &path, &e))?
            .len();
        if len as usize > MAX_MANIFEST {
            return Err(LogError::Snapshot {
                snapshot: name.into(),
                reason: format!("manifest of {len} bytes is too large"),
            });
        }
        let b = std::fs::read(&path).map_err(|e| LogError::io("reading", &path, &e))?;
        SnapshotManifest::decode(name, &b)
    }

    /// Path of a finished snapshot's data file (for mmap).
    pub fn data_path(&self, index: u64, term: u64) -> PathBuf {
        self.dir.join(dir_name(index, term)).join(DATA)
    }

    /// Starts writing a snapshot of our own state.
    pub async fn begin(&self, index: u64, term: u64) -> Result<SnapshotWriter> {
        SnapshotWriter::create(self.clone(), index, term, DEFAULT_CHUNK, None).await
    }

    /// Starts receiving a snapshot from the leader, described by its manifest; every chunk is
    /// verified against it.
    pub async fn receive(&self, manifest: SnapshotManifest) -> Result<SnapshotWriter> {
        let (i, t, c) = (manifest.index, manifest.term, manifest.chunk_size);
        SnapshotWriter::create(self.clone(), i, t, c, Some(manifest)).await
    }

    /// Opens a finished snapshot for reading chunks.
    pub async fn open(&self, index: u64, term: u64) -> Result<SnapshotReader> {
        let name = dir_name(index, term);
        let manifest = self.read_manifest(&name)?;
        let path = self.data_path(index, term);
        let file = DmaFile::open(&path).await.map_err(gio("opening", &path))?;
        Ok(SnapshotReader {
            manifest,
            path,
            file,
        })
    }

    /// Deletes a finished snapshot.
    pub async fn delete(&self, index: u64, term: u64) -> Result<()> {
        let dir = self.dir.join(dir_name(index, term));
        let doomed = self.dir.join(format!("{}.tmp", dir_name(index, term)));
        glommio::io::rename(&dir, &doomed)
            .await
            .map_err(gio("deleting", &dir))?;
        self.sync().await?;
        remove_tree(&doomed)
    }

    /// Removes leftovers of interrupted writes (`*.tmp`). Call at startup.
    pub fn remove_temporaries(&self) -> Result<()> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for ent in rd.flatten() {
            if ent.file_name().to_string_lossy().ends_with(".tmp") {
                remove_tree(&ent.path())?;
            }
        }
        Ok(())
    }

    async fn sync(&self) -> Result<()> {
        let d = Directory::open(&self.dir)
            .await
            .map_err(gio("opening directory", &self.dir))?;
        d.sync().await.map_err(gio("syncing directory", &self.dir))
    }
}

fn remove_tree(p: &Path) -> Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("removing", p, &e)),
    }
}

/// Writes one snapshot into a temporary directory; [`SnapshotWriter::finish`] makes it visible.
pub struct SnapshotWriter {
    store: SnapshotStore,
    tmp: PathBuf,
    name: String,
    index: u64,
    term: u64,
    chunk_size: u32,
    file: DmaFile,
    buf: Vec<u8>,
    written: u64,
    crcs: Vec<u32>,
    expected: Option<SnapshotManifest>,
}

impl SnapshotWriter {
    async fn create(
        store: SnapshotStore,
        index: u64,
        term: u64,
        chunk_size: u32,
        expected: Option<SnapshotManifest>,
    ) -> Result<SnapshotWriter> {
        let name = dir_name(index, term);
        if chunk_size == 0 || !chunk_size.is_multiple_of(4096) {
            return Err(LogError::Snapshot {
                snapshot: name,
                reason: format!("chunk size {chunk_size} is not a multiple of 4096"),
            });
        }
        std::fs::create_dir_all(&store.dir)
            .map_err(|e| LogError::io("creating", &store.dir, &e))?;
        let tmp = store.dir.join(format!("{name}.tmp"));
        remove_tree(&tmp)?;
        std::fs::create_dir(&tmp).map_err(|e| LogError::io("creating", &tmp, &e))?;
        let path = tmp.join(DATA);
        let file = DmaFile::create(&path)
            .await
            .map_err(gio("creating", &path))?;
        Ok(SnapshotWriter {
            store,
            tmp,
            name,
            index,
            term,
            chunk_size,
            file,
            buf: Vec::with_capacity(chunk_size as usize),
            written: 0,
            crcs: Vec::new(),
            expected,
        })
    }

    /// Appends bytes to the data file (own snapshots).
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let room = self.chunk_size as usize - self.buf.len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == self.chunk_size as usize {
                self.write_buffered_chunk().await?;
            }
        }
        Ok(())
    }

    /// Accepts chunk `i` received from the network: it must be the next chunk, have the length
    /// and the crc32c the manifest promises.
    pub async fn write_chunk(&mut self, i: u32, data: &[u8]) -> Result<()> {
        let bad = |reason: String| LogError::Snapshot {
            snapshot: self.name.clone(),
            reason,
        };
        let Some(m) = &self.expected else {
            return Err(bad(
                "write_chunk is for received snapshots; use write".into()
            ));
        };
        let next = self.crcs.len() as u32;
        if i != next {
            return Err(bad(format!(
                "chunk {i} arrived but chunk {next} was expected"
            )));
        }
        if i >= m.chunks() {
            return Err(bad(format!(
                "chunk {i} is beyond the manifest's {} chunks",
                m.chunks()
            )));
        }
        if data.len() as u64 != m.chunk_len(i) {
            return Err(bad(format!(
                "chunk {i} has {} bytes, the manifest says {}",
                data.len(),
                m.chunk_len(i)
            )));
        }
        let crc = crc32c::crc32c(data);
        if crc != m.chunk_crcs[i as usize] {
            return Err(bad(format!("chunk {i} checksum mismatch")));
        }
        self.buf.extend_from_slice(data);
        self.write_buffered_chunk().await
    }

    async fn write_buffered_chunk(&mut self) -> Result<()> {
        let len = self.buf.len();
        if len == 0 {
            return Ok(());
        }
        self.crcs.push(crc32c::crc32c(&self.buf));
        let aligned = len.div_ceil(4096) * 4096;
        let mut dma = self.file.alloc_dma_buffer(aligned);
        dma.as_bytes_mut()[..len].copy_from_slice(&self.buf);
        dma.as_bytes_mut()[len..].fill(0);
        let path = self.tmp.join(DATA);
        self.file
            .write_at(dma, self.written)
            .await
            .map_err(gio("writing snapshot", &path))?;
        self.written += len as u64;
        self.buf.clear();
        Ok(())
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Completes the snapshot: syncs the data, writes and syncs the manifest, renames the
    /// directory into place and syncs `snap/`. For received snapshots `conf_state` and
    /// `metadata` are ignored (the manifest's are kept) and every chunk must have arrived.
    pub async fn finish(
        mut self,
        conf_state: ConfState,
        metadata: BTreeMap<String, Vec<u8>>,
    ) -> Result<SnapshotManifest> {
        self.write_buffered_chunk().await?;
        let data_path = self.tmp.join(DATA);
        self.file
            .truncate(self.written)
            .await
            .map_err(gio("truncating", &data_path))?;
        self.file
            .fdatasync()
            .await
            .map_err(gio("syncing", &data_path))?;
        let manifest = match self.expected.take() {
            Some(m) => {
                if self.crcs.len() != m.chunk_crcs.len() || self.written != m.size {
                    return Err(LogError::Snapshot {
                        snapshot: self.name.clone(),
                        reason: format!(
                            "only {} of {} chunks arrived",
                            self.crcs.len(),
                            m.chunk_crcs.len()
                        ),
                    });
                }
                m
            }
            None => SnapshotManifest {
                index: self.index,
                term: self.term,
                conf_state,
                metadata,
                size: self.written,
                chunk_size: self.chunk_size,
                chunk_crcs: std::mem::take(&mut self.crcs),
            },
        };
        let mpath = self.tmp.join(MANIFEST);
        let mf = BufferedFile::create(&mpath)
            .await
            .map_err(gio("creating", &mpath))?;
        mf.write_at(manifest.encode()?, 0)
            .await
            .map_err(gio("writing", &mpath))?;
        mf.fdatasync().await.map_err(gio("syncing", &mpath))?;
        mf.close().await.map_err(gio("closing", &mpath))?;
        let tdir = Directory::open(&self.tmp)
            .await
            .map_err(gio("opening directory", &self.tmp))?;
        tdir.sync()
            .await
            .map_err(gio("syncing directory", &self.tmp))?;
        let fin = self.store.dir.join(&self.name);
        remove_tree(&fin)?;
        glommio::io::rename(&self.tmp, &fin)
            .await
            .map_err(gio("renaming snapshot into place", &fin))?;
        self.store.sync().await?;
        Ok(manifest)
    }

    /// Abandons the snapshot and removes its temporary directory.
    pub async fn abort(self) -> Result<()> {
        let _ = self.file.close().await;
        remove_tree(&self.tmp)
    }
}

/// Reads a finished snapshot chunk by chunk.
pub struct SnapshotReader {
    manifest: SnapshotManifest,
    path: PathBuf,
    file: DmaFile,
}

impl SnapshotReader {
    /// Its manifest (send this first to a follower).
    pub fn manifest(&self) -> &SnapshotManifest {
        &self.manifest
    }

    /// The data file, for `memmap2`.
    pub fn data_path(&self) -> &Path {
        &self.path
    }

    /// Reads and verifies chunk `i`.
    pub async fn read_chunk(&self, i: u32) -> Result<Vec<u8>> {
        let m = &self.manifest;
        if i >= m.chunks() {
            return Err(LogError::Snapshot {
                snapshot: m.dir_name(),
                reason: format!("no chunk {i}"),
            });
        }
        let len = m.chunk_len(i) as usize;
        let r = self
            .file
            .read_at(u64::from(i) * u64::from(m.chunk_size), len)
            .await
            .map_err(gio("reading snapshot", &self.path))?;
        if r.len() != len || crc32c::crc32c(&r) != m.chunk_crcs[i as usize] {
            return Err(LogError::Corrupt {
                path: self.path.clone(),
                offset: u64::from(i) * u64::from(m.chunk_size),
                reason: format!("snapshot chunk {i} is short or fails its checksum"),
            });
        }
        Ok(r.to_vec())
    }
}

/// Verifies every chunk of a snapshot with std reads (tools); returns the first bad offset.
pub fn verify_data(store: &SnapshotStore, m: &SnapshotManifest) -> Result<()> {
    use std::io::Read;
    let path = store.data_path(m.index, m.term);
    let mut f = std::fs::File::open(&path).map_err(|e| LogError::io("opening", &path, &e))?;
    let flen = f
        .metadata()
        .map_err(|e| LogError::io("reading", &path, &e))?
        .len();
    if flen != m.size {
        return Err(LogError::Corrupt {
            path,
            offset: flen.min(m.size),
            reason: format!("data file is {flen} bytes, manifest says {}", m.size),
        });
    }
    let mut buf = vec![0u8; m.chunk_size as usize];
    for i in 0..m.chunks() {
        let len = m.chunk_len(i) as usize;
        f.read_exact(&mut buf[..len])
            .map_err(|e| LogError::io("reading", &path, &e))?;
        if crc32c::crc32c(&buf[..len]) != m.chunk_crcs[i as usize] {
            return Err(LogError::Corrupt {
                path,
                offset: u64::from(i) * u64::from(m.chunk_size),
                reason: format!("snapshot chunk {i} fails its checksum"),
            });
        }
    }
    Ok(())
}
