//! Staging buffers: where appends encode their records, laid out so the writer can hand the
//! very same memory to the disk.
//!
//! A segment write must be one aligned O_DIRECT write from DMA-able memory that starts at the
//! block holding the log's partial tail. The log knows where its next record goes, so it
//! encodes records into a DMA buffer at that offset within its block, leaving room in front
//! for the tail block's bytes, which only the writer holds. The writer copies those (less than
//! one block) into the gap, stamps flush numbers and writes the buffer as it is: each byte of
//! an append is copied once, by the encoder, instead of once more into a write buffer (a
//! 64 KiB batch cost ~10 us of copying on shard 0's critical path between flushes).
//!
//! A stage that runs out of room, or that was never given DMA memory, spills into a heap
//! vector; the writer then lays its write out by copying, as it must anyway when one flush
//! holds several writes.

use crate::format::BLOCK;
use glommio::io::DmaBuffer;

/// The bytes of one queued segment write.
pub(crate) struct Stage {
    mem: Mem,
    /// Bytes in front of the first record (only in DMA memory): the write's offset within its
    /// block, where the writer puts the tail block's bytes.
    head: usize,
    /// Record bytes after `head`.
    len: usize,
}

enum Mem {
    /// Invariant: `v.len() == len` and `head == 0`.
    Heap(Vec<u8>),
    /// Invariant: `head + len <= buf.len()`, and `buf.len()` is a multiple of `BLOCK`.
    Dma(DmaBuffer),
}

impl Default for Stage {
    fn default() -> Stage {
        Stage::heap(Vec::new())
    }
}

impl Stage {
    /// An empty stage in DMA memory; `buf.len()` must be a multiple of `BLOCK`.
    pub fn dma(buf: DmaBuffer) -> Stage {
        debug_assert!((buf.len() as u64).is_multiple_of(BLOCK));
        Stage {
            mem: Mem::Dma(buf),
            head: 0,
            len: 0,
        }
    }

    /// An empty stage on the heap, reusing `v`'s capacity.
    pub fn heap(mut v: Vec<u8>) -> Stage {
        v.clear();
        Stage {
            mem: Mem::Heap(v),
            head: 0,
            len: 0,
        }
    }

    /// Places an empty stage for a write starting at byte `offset` of its segment.
    pub fn begin(&mut self, offset: u64) {
        if matches!(self.mem, Mem::Dma(_)) && self.len == 0 {
            self.head = (offset % BLOCK) as usize;
        }
    }

    /// Record bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.mem {
            Mem::Heap(v) => v,
            Mem::Dma(b) => &b.as_bytes()[self.head..self.head + self.len],
        }
    }

    /// Grows the stage by `n` bytes and returns them. Their contents are unspecified: the
    /// caller writes every one of them (or truncates them away).
    pub fn extend(&mut self, n: usize) -> &mut [u8] {
        if let Mem::Dma(b) = &self.mem {
            if self.head + self.len + n > b.len() {
                self.spill(n);
            }
        }
        let start = self.len;
        self.len += n;
        match &mut self.mem {
            Mem::Heap(v) => {
                v.resize(start + n, 0);
                &mut v[start..]
            }
            Mem::Dma(b) => &mut b.as_bytes_mut()[self.head + start..self.head + start + n],
        }
    }

    /// Drops record bytes after the first `len`.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            if let Mem::Heap(v) = &mut self.mem {
                v.truncate(len);
            }
        }
    }

    /// Moves the records to the heap, with room for `extra` more bytes.
    fn spill(&mut self, extra: usize) {
        let mut v = Vec::with_capacity(self.len + extra);
        v.extend_from_slice(self.bytes());
        self.mem = Mem::Heap(v);
        self.head = 0;
    }

    /// The head room if the records sit in DMA memory (what the writer checks against its
    /// tail before writing the stage in place).
    pub fn dma_head(&self) -> Option<usize> {
        match self.mem {
            Mem::Dma(_) => Some(self.head),
            Mem::Heap(_) => None,
        }
    }

    /// The DMA buffer, records at `head..head + len` and room up to the next block boundary
    /// after them; `None` for a heap stage.
    pub fn into_dma(self) -> Option<DmaBuffer> {
        match self.mem {
            Mem::Dma(b) => Some(b),
            Mem::Heap(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage in a one-block DMA buffer placed 100 bytes into its block: records fill it,
    /// one more spills to the heap with every byte kept, truncation drops the tail.
    #[test]
    fn records_fill_dma_memory_then_spill_to_the_heap() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let dir = tempfile::tempdir().unwrap();
                let f = glommio::io::DmaFile::create(dir.path().join("f"))
                    .await
                    .unwrap();
                let mut st = Stage::dma(f.alloc_dma_buffer(BLOCK as usize));
                st.begin(3 * BLOCK + 100);
                assert_eq!(st.dma_head(), Some(100));
                let mut want = Vec::new();
                for i in 0..3u8 {
                    st.extend(1000).fill(i);
                    want.extend(std::iter::repeat_n(i, 1000));
                }
                assert_eq!(st.dma_head(), Some(100), "3100 bytes fit after the head");
                st.extend(1000).fill(9);
                want.extend(std::iter::repeat_n(9, 1000));
                assert_eq!(st.dma_head(), None, "4100 bytes do not: spilled");
                assert_eq!(st.bytes(), &want[..]);
                st.truncate(1500);
                assert_eq!(st.len(), 1500);
                assert_eq!(st.bytes(), &want[..1500]);
                f.close().await.unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
