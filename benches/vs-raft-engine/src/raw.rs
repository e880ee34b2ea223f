//! The disk's own floor, measured between the logs' rounds: O_DIRECT writes of 4 KiB (what a
//! single durable append must cost at least) and 64 KiB (one group of 64 × 1 KiB entries),
//! each followed by fdatasync, into a file zero-filled beforehand so no write allocates.

use hdrhistogram::Histogram;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

/// A file of `bytes` zero-filled and synced, reopened O_DIRECT, with a page-aligned buffer.
pub struct Raw {
    file: File,
    /// The same file opened O_DSYNC too: the write itself is durable, as ReefDB's log writes.
    dsync: File,
    bytes: u64,
    next: u64,
    buf: Vec<u8>,
    start: usize,
}

const ALIGN: usize = 4096;
const MAX_WRITE: usize = 64 << 10;

impl Raw {
    pub fn create(path: &Path, bytes: u64) -> std::io::Result<Raw> {
        let mut f = File::create(path)?;
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..bytes.div_ceil(1 << 20) {
            f.write_all(&zeros)?;
        }
        f.sync_all()?;
        drop(f);
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)?;
        let dsync = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
            .open(path)?;
        // O_DIRECT needs an aligned buffer; a Vec with room to slide to the next page gives
        // one without unsafe code.
        let buf = vec![0xa5u8; MAX_WRITE + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        Ok(Raw {
            file,
            dsync,
            bytes: bytes / MAX_WRITE as u64 * MAX_WRITE as u64,
            next: 0,
            buf,
            start,
        })
    }

    /// `n` writes of `size` bytes, each followed by fdatasync (or, with `dsync`, each written
    /// O_DSYNC); latency per write in µs into `h`. Returns the burst's wall time in seconds.
    pub fn burst(
        &mut self,
        size: usize,
        n: u64,
        dsync: bool,
        h: &mut Histogram<u64>,
    ) -> std::io::Result<f64> {
        assert!(size.is_multiple_of(ALIGN) && size <= MAX_WRITE);
        let began = Instant::now();
        for _ in 0..n {
            if self.next + size as u64 > self.bytes {
                self.next = 0;
            }
            let t = Instant::now();
            let data = &self.buf[self.start..self.start + size];
            if dsync {
                self.dsync.write_all_at(data, self.next)?;
            } else {
                self.file.write_all_at(data, self.next)?;
                self.file.sync_data()?;
            }
            let _ = h.record(t.elapsed().as_micros() as u64);
            self.next += size as u64;
        }
        Ok(began.elapsed().as_secs_f64())
    }
}
