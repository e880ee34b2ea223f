//! Turning SIGTERM/SIGINT (or a fatal error on shard 0) into a future every shard awaits.
//!
//! Signals arrive on a plain thread (signal-hook's iterator); the first one resolves a
//! shared oneshot that every shard holds a clone of. Shard 0 can fire the same oneshot when
//! its driver stops on its own (a failed log), so the whole process goes down together. A
//! second signal while shutting down exits at once, as an operator pressing Ctrl-C twice
//! expects.

use futures::future::{FutureExt, Shared};
use futures_channel::oneshot;
use std::sync::{Arc, Mutex};

pub type Stop = Shared<oneshot::Receiver<()>>;

/// Fires the stop future from code. Cloned freely; firing twice is harmless. The mutex is
/// touched once per process lifetime, never on a request path.
#[derive(Clone)]
pub struct Trigger(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl Trigger {
    /// Fires the stop future; returns false if it had already fired.
    pub fn fire(&self) -> bool {
        match self.0.lock().map(|mut g| g.take()) {
            Ok(Some(tx)) => {
                let _ = tx.send(());
                true
            }
            _ => false,
        }
    }
}

/// A stop future and its trigger, with no signal handling (tests, embedded use).
pub fn manual() -> (Trigger, Stop) {
    let (tx, rx) = oneshot::channel();
    (Trigger(Arc::new(Mutex::new(Some(tx)))), rx.shared())
}

/// Installs SIGINT/SIGTERM handlers that fire the returned stop future.
pub fn install() -> std::io::Result<(Trigger, Stop)> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let (trigger, stop) = manual();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let t = trigger.clone();
    std::thread::Builder::new()
        .name("reef-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if t.fire() {
                    tracing::info!(signal = sig, "shutting down");
                } else {
                    tracing::warn!(signal = sig, "second signal: exiting now");
                    std::process::exit(130);
                }
            }
        })?;
    Ok((trigger, stop))
}
