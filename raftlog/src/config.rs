//! Knobs of the log, with the defaults the architecture asks for.

/// How a flush is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Segment and hard-state files are opened with `O_DSYNC`: a completed write is durable,
    /// no separate sync call. Measured faster on this machine (see the crate docs); default.
    Dsync,
    /// Plain O_DIRECT writes followed by one `fdatasync` per touched file per flush.
    Fdatasync,
}

/// How a new segment file gets its blocks before first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preallocate {
    /// Write zeros over the whole file (in the background, ahead of need), so appends
    /// overwrite allocated, written blocks and need no metadata update. Default.
    ZeroFill,
    /// `fallocate` only: fast to create, but the first write to each block converts an
    /// unwritten extent, which costs a journal commit per durable write.
    Fallocate,
}

/// Configuration of a [`crate::RaftLog`].
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Size of each segment file in bytes (multiple of 4096, at least 64 KiB). Default 64 MiB.
    pub segment_size: u64,
    /// Durability mechanism. Default [`SyncMode::Dsync`].
    pub sync_mode: SyncMode,
    /// Preallocation of new segments. Default [`Preallocate::ZeroFill`].
    pub preallocate: Preallocate,
    /// Spare (recycled or preallocated) segment files to keep around. Default 2.
    pub max_spares: usize,
    /// Budget of the in-memory entry cache, in bytes. Entries not yet durable are always kept
    /// regardless of the budget. Default 64 MiB.
    pub cache_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_size: 64 << 20,
            sync_mode: SyncMode::Dsync,
            preallocate: Preallocate::ZeroFill,
            max_spares: 2,
            cache_bytes: 64 << 20,
        }
    }
}

impl LogConfig {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<(), crate::LogError> {
        if self.segment_size < 64 * 1024 || !self.segment_size.is_multiple_of(4096) {
            return Err(crate::LogError::Invalid(format!(
                "segment_size {} must be a multiple of 4096 and at least 65536",
                self.segment_size
            )));
        }
        if self.segment_size > u32::MAX as u64 * 4 {
            return Err(crate::LogError::Invalid(format!(
                "segment_size {} is too large",
                self.segment_size
            )));
        }
        Ok(())
    }
}
