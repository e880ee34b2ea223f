//! A snapshot file mapped into memory and its sorted runs served as base layers.
//!
//! [`Mapped::open`] validates the file once: header and footer, the body's crc32c, rkyv's
//! bytecheck of the archive, and every run's offsets (in bounds, non-decreasing). After that
//! a [`RunBase`] answers point lookups and range scans by binary search over the offsets,
//! returning slices of the map: no row is decoded or copied to the heap.
//!
//! Memory: the checksum pass reads the file with pread (page cache, not our resident set);
//! the offsets pass reads each run's offsets through the map and then tells the kernel this
//! process no longer needs those pages (`MADV_DONTNEED` on a shared read-only file map drops
//! them from our resident set; the data stays in the page cache and later reads fault it
//! back in). So opening a snapshot costs resident memory for what queries touch, not for
//! the file's size.

use std::fs::File;
use std::ops::Bound;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, UncheckedAdvice};
use rkyv::rancor;

use super::format::{self, SnapshotHeader, FOOTER};
use super::schema::{ArchivedRoot, ArchivedStore};
use super::Error;
use crate::store::{BaseIter, BaseLayer};

/// Bytes read per pread while checksumming.
const WINDOW: usize = 1 << 20;

/// Bytes of a row key (an encoded rowid).
const ROWID_KEY: u64 = 8;

/// Bodies at least this large are checksummed by several threads.
const PARALLEL_MIN: usize = 64 << 20;

/// crc32c of `range` of `file`, read with pread a window at a time.
fn crc_of(file: &File, range: std::ops::Range<usize>) -> Result<u32, std::io::Error> {
    let mut buf = vec![0u8; WINDOW.min(range.len()).max(1)];
    let mut crc = 0u32;
    let mut at = range.start;
    while at < range.end {
        let n = (range.end - at).min(buf.len());
        file.read_exact_at(&mut buf[..n], at as u64)?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        at += n;
    }
    Ok(crc)
}

/// crc32c of `range` of `file`, computed by `parts` threads over consecutive pieces.
fn crc_parallel(
    file: &File,
    range: std::ops::Range<usize>,
    parts: usize,
) -> Result<u32, std::io::Error> {
    if parts <= 1 {
        return crc_of(file, range);
    }
    let step = range.len().div_ceil(parts).max(1);
    let pieces: Vec<std::ops::Range<usize>> = (0..parts)
        .map(|i| {
            let a = (range.start + i * step).min(range.end);
            a..(a + step).min(range.end)
        })
        .collect();
    let results: Vec<Result<u32, std::io::Error>> = std::thread::scope(|sc| {
        let handles: Vec<_> = pieces
            .iter()
            .map(|r| {
                let r = r.clone();
                sc.spawn(move || crc_of(file, r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("checksum thread panicked")))
            })
            .collect()
    });
    let mut crc = 0u32;
    for (r, piece) in results.into_iter().zip(&pieces) {
        crc = crc32c::crc32c_combine(crc, r?, piece.len());
    }
    Ok(crc)
}

/// A validated snapshot file, mapped read-only.
pub struct Mapped {
    map: Mmap,
    path: PathBuf,
    header: SnapshotHeader,
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapped")
            .field("path", &self.path)
            .field("index", &self.header.index)
            .field("term", &self.header.term)
            .field("size", &self.header.size)
            .finish()
    }
}

impl Mapped {
    /// Maps and validates the snapshot at `path`. Every error names the file.
    pub fn open(path: &Path) -> Result<Arc<Mapped>, Error> {
        let p = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::Io {
            path: p.clone(),
            op: "opening",
            source: e,
        })?;
        let size = file
            .metadata()
            .map_err(|e| Error::Io {
                path: p.clone(),
                op: "reading the size of",
                source: e,
            })?
            .len();
        if size < (format::HEADER_FIXED + FOOTER) as u64 {
            return Err(Error::Truncated {
                path: p,
                size,
                what: "a header and a footer".into(),
            });
        }
        if size > usize::MAX as u64 {
            return Err(Error::Corrupt {
                path: p,
                what: format!("{size} bytes do not fit this address space"),
            });
        }
        // SAFETY: snapshot files are immutable once renamed into place (the snapshot store
        // writes a new directory and renames it; it never rewrites a data file), and the
        // map is read-only, so the bytes do not change under the references we hand out.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::Io {
            path: p.clone(),
            op: "memory-mapping",
            source: e,
        })?;
        let len = format::header_len(&p, &map[..format::HEADER_FIXED], size)?;
        let header = format::decode(&p, &map[..len], &map[map.len() - FOOTER..], size)?;
        let m = Mapped {
            map,
            path: path.to_path_buf(),
            header,
        };
        m.check_body(&file)?;
        Ok(Arc::new(m))
    }

    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn body_range(&self) -> std::ops::Range<usize> {
        let start = self.header.header_len as usize;
        start..start + self.header.body_len as usize
    }

    fn body(&self) -> &[u8] {
        &self.map[self.body_range()]
    }

    fn release(&self, range: std::ops::Range<usize>) {
        // Whole pages only: the first and last may hold bytes still wanted.
        let page = 4096;
        let start = range.start.div_ceil(page) * page;
        let end = range.end / page * page;
        if end > start {
            // SAFETY: a shared, read-only file map: MADV_DONTNEED drops our page-table
            // entries; the next read faults the same file bytes back in. No reference into
            // the map is invalidated.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }

    fn corrupt(&self, what: String) -> Error {
        Error::Corrupt {
            path: self.path.display().to_string(),
            what,
        }
    }

    fn check_body(&self, file: &File) -> Result<(), Error> {
        // The checksum reads the file with pread into reusable buffers rather than through
        // the map: no page-table work for a gigabyte of pages and no resident-set growth,
        // only a copy out of the page cache. Large bodies are split across threads (one
        // per core, at most 4) and the parts' checksums combined.
        let range = self.body_range();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let parts = if range.len() >= PARALLEL_MIN {
            threads
        } else {
            1
        };
        let crc = crc_parallel(file, range, parts).map_err(|e| Error::Io {
            path: self.path.display().to_string(),
            op: "reading",
            source: e,
        })?;
        if crc != self.header.body_crc {
            return Err(self.corrupt(format!(
                "body checksum mismatch (crc32c {crc:08x}, the footer says {:08x})",
                self.header.body_crc
            )));
        }
        let root = rkyv::access::<ArchivedRoot, rancor::Error>(self.body())
            .map_err(|e| self.corrupt(format!("archive does not validate: {e}")))?;
        if root.index.to_native() != self.header.index || root.term.to_native() != self.header.term
        {
            return Err(self.corrupt(format!(
                "archive is at {}/{} but the header says {}/{}",
                root.index, root.term, self.header.index, self.header.term
            )));
        }
        for t in root.tables.iter() {
            self.check_run(&t.rows, &format!("table {}", t.name), Some(ROWID_KEY))?;
            for ix in t.indexes.iter() {
                let what = format!("index {} of table {}", ix.name, t.name);
                self.check_run(&ix.store, &what, None)?;
            }
        }
        Ok(())
    }

    /// Offsets of a run: `2 * count + 1` of them, starting at 0, never decreasing, ending
    /// at the run's length. Then every key and value slice a lookup takes is in bounds. Row
    /// runs' keys are rowids, `key_len` bytes each, as the row store requires.
    fn check_run(&self, s: &ArchivedStore, what: &str, key_len: Option<u64>) -> Result<(), Error> {
        let count = s.count.to_native();
        let offs = s.offs.as_slice();
        if count.checked_mul(2).and_then(|n| n.checked_add(1)) != Some(offs.len() as u64) {
            return Err(self.corrupt(format!(
                "{what}: {} offsets for {count} entries",
                offs.len()
            )));
        }
        let mut prev = 0u64;
        if offs[0].to_native() != 0 {
            return Err(self.corrupt(format!("{what}: first offset is not 0")));
        }
        for (i, o) in offs.iter().enumerate() {
            let o = o.to_native();
            if o < prev {
                return Err(self.corrupt(format!("{what}: offset {i} goes backwards")));
            }
            if let Some(n) = key_len {
                if i % 2 == 1 && o - prev != n {
                    return Err(self.corrupt(format!(
                        "{what}: key {} is {} bytes, not a {n}-byte rowid",
                        i / 2,
                        o - prev
                    )));
                }
            }
            prev = o;
        }
        if prev != s.data.len() as u64 {
            return Err(self.corrupt(format!(
                "{what}: offsets end at {prev} but the run has {} bytes",
                s.data.len()
            )));
        }
        let base = self.map.as_ptr() as usize;
        let start = offs.as_ptr() as usize - base;
        self.release(start..start + std::mem::size_of_val(offs));
        Ok(())
    }

    /// The validated archive root.
    pub(crate) fn root(&self) -> &ArchivedRoot {
        // SAFETY: `open` validated exactly these bytes with `rkyv::access` (bytecheck) and
        // the map does not change afterwards (see `open`).
        unsafe { rkyv::access_unchecked::<ArchivedRoot>(self.body()) }
    }

    /// A base layer over one of this archive's runs.
    /// `rowid`: a table's row run, whose keys `open` checked are 8-byte rowids.
    pub(crate) fn run(self: &Arc<Mapped>, s: &ArchivedStore, rowid: bool) -> RunBase {
        let base = self.map.as_ptr() as usize;
        RunBase {
            map: self.clone(),
            rowid,
            count: s.count.to_native() as usize,
            offs: s.offs.as_ptr() as usize - base,
            data: s.data.as_ptr() as usize - base,
            data_len: s.data.len(),
        }
    }
}

/// One sorted run of a mapped snapshot, as a base layer. Holds byte positions in the map
/// (not references), so it owns its `Arc` and is `Send + Sync + 'static`.
#[derive(Clone)]
pub struct RunBase {
    map: Arc<Mapped>,
    /// Keys are 8-byte rowids (big-endian, sign flipped): searched by interpolation.
    rowid: bool,
    count: usize,
    /// Byte position of the offsets array in the map.
    offs: usize,
    /// Byte position of the run in the map.
    data: usize,
    data_len: usize,
}

impl std::fmt::Debug for RunBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunBase")
            .field("file", &self.map.path)
            .field("entries", &self.count)
            .field("bytes", &self.data_len)
            .finish()
    }
}

impl RunBase {
    #[inline]
    fn off(&self, i: usize) -> usize {
        let at = self.offs + 8 * i;
        let b: [u8; 8] = self.map.map[at..at + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(b) as usize
    }

    #[inline]
    fn key(&self, i: usize) -> &[u8] {
        &self.map.map[self.data + self.off(2 * i)..self.data + self.off(2 * i + 1)]
    }

    #[inline]
    fn value(&self, i: usize) -> &[u8] {
        &self.map.map[self.data + self.off(2 * i + 1)..self.data + self.off(2 * i + 2)]
    }

    /// The first entry whose key is not less than `key` (or greater, when `strict`).
    fn lower_bound(&self, key: &[u8], strict: bool) -> usize {
        let before = |i: usize| {
            let k = self.key(i);
            if strict {
                k <= key
            } else {
                k < key
            }
        };
        // Everything below `lo` is before the key, everything from `hi` on is not.
        let (mut lo, mut hi) = (0, self.count);
        if self.rowid && hi > 16 {
            if let Ok(t) = <[u8; 8]>::try_from(key) {
                // Rowids are usually dense: one guess by interpolation, checked against its
                // neighbour, usually lands on the answer without a binary search.
                let num = |i: usize| <[u8; 8]>::try_from(self.key(i)).map_or(0, u64::from_be_bytes);
                let (t, a, b) = (u64::from_be_bytes(t), num(0), num(hi - 1));
                let g = if t <= a {
                    0
                } else if t >= b {
                    hi - 1
                } else {
                    ((t - a) as u128 * (hi - 1) as u128 / (b - a) as u128) as usize
                };
                if before(g) {
                    lo = g + 1;
                    if lo < hi && !before(lo) {
                        return lo;
                    }
                } else {
                    hi = g;
                    if g == 0 || before(g - 1) {
                        return g;
                    }
                }
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl BaseLayer for RunBase {
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let i = self.lower_bound(key, false);
        (i < self.count && self.key(i) == key).then(|| self.value(i))
    }

    fn range<'a>(&'a self, lo: Bound<&[u8]>, hi: Bound<&[u8]>, reverse: bool) -> BaseIter<'a> {
        let start = match lo {
            Bound::Unbounded => 0,
            Bound::Included(k) => self.lower_bound(k, false),
            Bound::Excluded(k) => self.lower_bound(k, true),
        };
        let end = match hi {
            Bound::Unbounded => self.count,
            Bound::Included(k) => self.lower_bound(k, true),
            Bound::Excluded(k) => self.lower_bound(k, false),
        };
        let ids = start..end.max(start);
        if reverse {
            Box::new(ids.rev().map(move |i| (self.key(i), self.value(i))))
        } else {
            Box::new(ids.map(move |i| (self.key(i), self.value(i))))
        }
    }

    fn len(&self) -> u64 {
        self.count as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// Split checksums combine to the checksum of the whole, for any split and offset.
    #[test]
    fn parallel_crc_matches_sequential() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..(3 << 20) + 123)
            .map(|i| (i * 7 + i / 13) as u8)
            .collect();
        f.write_all(&data).unwrap();
        for (a, b) in [
            (0, data.len()),
            (17, data.len() - 5),
            (1 << 20, (1 << 20) + 10),
        ] {
            let want = crc32c::crc32c(&data[a..b]);
            for parts in 1..=4 {
                assert_eq!(
                    crc_parallel(&f, a..b, parts).unwrap(),
                    want,
                    "{a}..{b} in {parts}"
                );
            }
        }
    }
}
