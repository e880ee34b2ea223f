//! Disk faults on real file systems: a full data disk, and a corrupted log segment.
//!
//! A full disk is a size-limited tmpfs mounted at the node's `data_dir` before its first
//! start (this kernel's tmpfs takes O_DIRECT and io_uring writes, so the node runs its normal
//! log path on it), then filled to the last block by a ballast file. The node notices when it
//! next needs space (its log preallocates segments ahead, so that is at a segment boundary,
//! not at the next write). Space "returns" when the ballast is deleted.
//!
//! Corruption flips one byte in the payload of the first record of the node's oldest
//! segment while the node is down. Later flushes follow that record, so recovery must call it
//! corruption (not a torn tail) and refuse to start, naming the file and offset.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a fixed size mounted at a node's data dir; unmounted on drop.
pub struct SmallDisk {
    pub mount: PathBuf,
    pub bytes: u64,
    ballast: Option<PathBuf>,
}

impl SmallDisk {
    pub fn mount(at: &Path, bytes: u64) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(at).map_err(|e| format!("{}: {e}", at.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mounting a {bytes}-byte tmpfs at {}: {}",
                at.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk {
            mount: at.to_path_buf(),
            bytes,
            ballast: None,
        })
    }

    /// Fills the file system to the last block. Returns the ballast's size.
    pub fn fill(&mut self) -> std::io::Result<u64> {
        let path = self.mount.join("ballast.fill");
        let file = File::create(&path)?;
        self.ballast = Some(path);
        let mut size = 0u64;
        let mut chunk = 64u64 << 20;
        while chunk >= 4096 {
            let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, size as i64, chunk as i64) };
            if r == 0 {
                size += chunk;
            } else {
                chunk /= 2;
            }
        }
        // Whatever fallocate's granularity left, plain writes take (after the allocated part:
        // fallocate does not move the file position).
        let mut f = &file;
        f.seek(SeekFrom::Start(size))?;
        let block = [0u8; 512];
        while f.write(&block).map(|n| n > 0).unwrap_or(false) {
            size += 512;
        }
        Ok(size)
    }

    /// Takes all but about `leave` bytes of the free space in one allocation (never filling
    /// the disk on the way, which could stop the node). Returns the free bytes left.
    pub fn fill_leaving(&mut self, leave: u64) -> std::io::Result<u64> {
        let path = self.mount.join("ballast.fill");
        let file = File::create(&path)?;
        self.ballast = Some(path);
        let take = crate::support::fs_space(&self.mount)
            .0
            .saturating_sub(leave)
            / 4096
            * 4096;
        if take > 0 && unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, take as i64) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(crate::support::fs_space(&self.mount).0)
    }

    /// Gives the space back.
    pub fn free(&mut self) {
        if let Some(p) = self.ballast.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).output();
    }
}

/// One flipped byte, remembered so it can be put back.
#[derive(Debug, Clone)]
pub struct Corruption {
    pub path: PathBuf,
    pub offset: u64,
    pub original: u8,
}

/// Segment files of a raft dir (`<raft_dir>/log/<seq:020>.seg`), oldest first.
pub fn segments(raft_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(raft_dir.join("log"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Flips a payload byte of the first record of the oldest segment.
pub fn corrupt_first_record(raft_dir: &Path) -> Result<Corruption, String> {
    const BLOCK: u64 = 4096;
    const RECORD_HEADER: u64 = 24;
    let path = segments(raft_dir)
        .into_iter()
        .next()
        .ok_or_else(|| format!("no segment in {}", raft_dir.join("log").display()))?;
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(err)?;
    let mut head = [0u8; 4];
    f.seek(SeekFrom::Start(BLOCK)).map_err(err)?;
    f.read_exact(&mut head).map_err(err)?;
    let len = u32::from_le_bytes(head) as u64;
    if len == 0 {
        return Err(format!("{}: the first record is empty", path.display()));
    }
    let offset = BLOCK + RECORD_HEADER + len / 2;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).map_err(err)?;
    f.read_exact(&mut b).map_err(err)?;
    let original = b[0];
    f.seek(SeekFrom::Start(offset)).map_err(err)?;
    f.write_all(&[original ^ 0x5a]).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(Corruption {
        path,
        offset,
        original,
    })
}

/// Puts the byte back.
pub fn restore(c: &Corruption) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", c.path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&c.path)
        .map_err(err)?;
    f.seek(SeekFrom::Start(c.offset)).map_err(err)?;
    f.write_all(&[c.original]).map_err(err)?;
    f.sync_all().map_err(err)
}
