//! ReefDB's log under the same load, as a node drives it: one glommio executor owns the log;
//! the single appender appends and awaits each flush, and the 64 appenders are tasks on that
//! executor, each awaiting its own append's durability (group commit joins them). The
//! executor lives on its own thread for the whole run and takes orders over a channel, so
//! its rounds can alternate with raft-engine's.

use crate::load::{entry, Run, TASKS};
use futures::channel::mpsc;
use futures::StreamExt;
use glommio::io::{DmaFile, OpenOptions};
use reef_raftlog::{LogConfig, RaftLog};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

enum Order {
    Single(u64),
    Group(u64),
    /// Raw 4 KiB O_DSYNC writes through glommio: the log's own floor on this executor.
    Raw(u64),
}

/// Errors cross from the executor's thread to the main one.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

type Reply = std::sync::mpsc::Sender<Result<Run, Error>>;

pub struct Reef {
    orders: mpsc::UnboundedSender<(Order, Reply)>,
    thread: Option<glommio::ExecutorJoinHandle<Result<(), Error>>>,
}

impl Reef {
    /// `spin`: how long the executor polls before it sleeps in the kernel (a node's pinned
    /// shards poll 100 µs; `None` = unpinned and sleeping at once, as in `pin_cores: false`).
    pub fn open(dir: PathBuf, spin: Option<Duration>) -> Reef {
        let (orders, mut rx) = mpsc::unbounded::<(Order, Reply)>();
        let builder = match spin {
            // glommio only polls before parking on an executor bound to a CPU.
            Some(spin) => glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(0))
                .spin_before_park(spin),
            None => glommio::LocalExecutorBuilder::default(),
        };
        let thread = builder
            .name("reef-log")
            .spawn(move || async move {
                let log = Rc::new(RefCell::new(
                    RaftLog::open(&dir, LogConfig::default()).await?,
                ));
                // A fresh log zero-fills its first spare segment in the background; a running
                // node pays that once per segment, so let it finish before measuring.
                let raw = raw_file(&dir.with_extension("raw")).await?;
                glommio::timer::sleep(Duration::from_millis(1000)).await;
                let mut next = 0;
                while let Some((order, reply)) = rx.next().await {
                    let run = match order {
                        Order::Single(n) => single(&log, n).await,
                        Order::Group(each) => group(&log, each).await,
                        Order::Raw(n) => raw_writes(&raw, &mut next, n).await,
                    };
                    let _ = reply.send(run);
                }
                let log = Rc::try_unwrap(log)
                    .ok()
                    .expect("no appender outlives its round")
                    .into_inner();
                raw.close().await.map_err(|e| e.to_string())?;
                log.close().await?;
                Ok(())
            })
            .expect("start the log's executor");
        Reef {
            orders,
            thread: Some(thread),
        }
    }

    fn ask(&self, order: Order) -> Result<Run, Error> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.orders
            .unbounded_send((order, tx))
            .expect("the log's executor is running");
        rx.recv().expect("the log's executor answers every order")
    }

    pub fn single(&self, n: u64) -> Result<Run, Error> {
        self.ask(Order::Single(n))
    }

    pub fn group(&self, each: u64) -> Result<Run, Error> {
        self.ask(Order::Group(each))
    }

    pub fn raw(&self, n: u64) -> Result<Run, Error> {
        self.ask(Order::Raw(n))
    }

    pub fn close(mut self) -> Result<(), Error> {
        self.orders.close_channel();
        self.thread
            .take()
            .expect("closed once")
            .join()
            .expect("the log's executor thread finished")
    }
}

async fn append(log: &RefCell<RaftLog>) -> Result<(), Error> {
    let durable = {
        let mut l = log.borrow_mut();
        let index = raft::Storage::last_index(&*l).expect("in-memory index") + 1;
        l.append(&[entry(index)])?;
        l.flush()
    };
    durable.await?;
    Ok(())
}

/// Compacts to the last index, as a node does after a snapshot, so every round starts
/// from the same small log.
async fn compact(log: &RefCell<RaftLog>) -> Result<(), Error> {
    let durable = {
        let mut l = log.borrow_mut();
        let last = raft::Storage::last_index(&*l).expect("in-memory index");
        l.compact(last)?;
        l.flush()
    };
    durable.await?;
    Ok(())
}

async fn single(log: &Rc<RefCell<RaftLog>>, n: u64) -> Result<Run, Error> {
    let mut run = Run::start();
    for _ in 0..n {
        let t = Instant::now();
        append(log).await?;
        run.record(t);
    }
    run.finish(n);
    compact(log).await?;
    Ok(run)
}

async fn group(log: &Rc<RefCell<RaftLog>>, each: u64) -> Result<Run, Error> {
    let run = Rc::new(RefCell::new(Run::start()));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (log, run) = (log.clone(), run.clone());
            glommio::spawn_local(async move {
                for _ in 0..each {
                    let t = Instant::now();
                    append(&log).await?;
                    run.borrow_mut().record(t);
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    let mut failed = None;
    for t in tasks {
        if let Err(e) = t.await {
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let mut run = Rc::try_unwrap(run)
        .ok()
        .expect("every appender has finished")
        .into_inner();
    run.finish(each * TASKS);
    compact(log).await?;
    Ok(run)
}

const RAW_BYTES: u64 = 16 << 20;

/// A zero-filled file reopened O_DIRECT | O_DSYNC, as the log opens its segments.
async fn raw_file(path: &Path) -> Result<DmaFile, Error> {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, vec![0u8; RAW_BYTES as usize])?;
    std::fs::File::open(path)?.sync_all()?;
    Ok(OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .dma_open(path)
        .await
        .map_err(|e| format!("open {}: {e}", path.display()))?)
}

async fn raw_writes(f: &DmaFile, next: &mut u64, n: u64) -> Result<Run, Error> {
    let mut run = Run::start();
    for _ in 0..n {
        if *next + 4096 > RAW_BYTES {
            *next = 0;
        }
        let mut b = f.alloc_dma_buffer(4096);
        b.as_bytes_mut().fill(0xa5);
        let t = Instant::now();
        f.write_at(b, *next)
            .await
            .map_err(|e| format!("raw write at {next}: {e}"))?;
        run.record(t);
        *next += 4096;
    }
    run.finish(n);
    Ok(run)
}
