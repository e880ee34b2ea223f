//! TiKV's raft-engine under the same load as ReefDB's log: one appender whose every 1 KiB
//! entry is synced, and 64 threads appending 1 KiB entries, each waiting for its own sync.
//! raft-engine is a multi-Raft log, so each of the 64 writers owns a region (as 64 Raft
//! groups would in TiKV); its write path groups concurrent writers into one fdatasync, the
//! counterpart of ReefDB's group commit. Default configuration: format V2, log recycling.

use crate::load::{entry, Run, TASKS};
use hdrhistogram::Histogram;
use raft::eraftpb::Entry;
use raft_engine::{Config, Engine, LogBatch, MessageExt};
use std::path::Path;
use std::time::Instant;

struct EntryExt;

impl MessageExt for EntryExt {
    type Entry = Entry;
    fn index(e: &Entry) -> u64 {
        e.index
    }
}

pub struct Peer {
    engine: Engine,
    /// Last index written per region; region 0 is the single appender's.
    last: Vec<u64>,
}

impl Peer {
    pub fn open(dir: &Path) -> raft_engine::Result<Peer> {
        let cfg = Config {
            dir: dir.to_string_lossy().into_owned(),
            ..Config::default()
        };
        Ok(Peer {
            engine: Engine::open(cfg)?,
            last: vec![0; TASKS as usize + 1],
        })
    }

    fn append(engine: &Engine, region: u64, index: u64) -> raft_engine::Result<()> {
        let mut batch = LogBatch::with_capacity(1);
        batch.add_entries::<EntryExt>(region + 1, &[entry(index)])?;
        engine.write(&mut batch, true)?;
        Ok(())
    }

    /// Drops every region's entries, as the node would after a snapshot, so each round
    /// starts from the same small log.
    fn compact(&mut self) -> raft_engine::Result<()> {
        for (region, last) in self.last.iter().enumerate() {
            self.engine.compact_to(region as u64 + 1, *last + 1);
        }
        self.engine.purge_expired_files()?;
        Ok(())
    }

    pub fn single(&mut self, n: u64) -> raft_engine::Result<Run> {
        let mut run = Run::start();
        for _ in 0..n {
            let index = self.last[0] + 1;
            let t = Instant::now();
            Self::append(&self.engine, 0, index)?;
            run.record(t);
            self.last[0] = index;
        }
        run.finish(n);
        self.compact()?;
        Ok(run)
    }

    pub fn group(&mut self, each: u64) -> raft_engine::Result<Run> {
        let engine = &self.engine;
        let mut run = Run::start();
        let results: Vec<raft_engine::Result<(Histogram<u64>, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = self.last[1..]
                .iter()
                .enumerate()
                .map(|(t, &last)| {
                    s.spawn(move || {
                        let mut h = crate::load::hist();
                        let mut index = last;
                        for _ in 0..each {
                            let t0 = Instant::now();
                            Self::append(engine, t as u64 + 1, index + 1)?;
                            let _ = h.record(t0.elapsed().as_micros() as u64);
                            index += 1;
                        }
                        Ok((h, index))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("raft-engine writer thread panicked"))
                .collect()
        });
        run.stop();
        for (t, r) in results.into_iter().enumerate() {
            let (h, last) = r?;
            run.hist.add(&h).expect("same histogram bounds");
            self.last[t + 1] = last;
        }
        run.finish(each * TASKS);
        self.compact()?;
        Ok(run)
    }
}
