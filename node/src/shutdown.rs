//! Turning SIGTERM/SIGINT into a future every shard can await.
//!
//! Signals arrive on a plain thread (signal-hook's iterator); the first one resolves a
//! shared oneshot that every shard holds a clone of. A second signal while shutting down
//! exits at once, which is what an operator pressing Ctrl-C twice expects.

use futures::future::{FutureExt, Shared};
use futures_channel::oneshot;

pub type Stop = Shared<oneshot::Receiver<()>>;

/// Installs the handlers and returns the future that resolves on the first signal.
pub fn install() -> std::io::Result<Stop> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let (tx, rx) = oneshot::channel();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("reef-signals".into())
        .spawn(move || {
            let mut tx = Some(tx);
            for sig in signals.forever() {
                match tx.take() {
                    Some(tx) => {
                        tracing::info!(signal = sig, "shutting down");
                        let _ = tx.send(());
                    }
                    None => {
                        tracing::warn!(signal = sig, "second signal: exiting now");
                        std::process::exit(130);
                    }
                }
            }
        })?;
    Ok(rx.shared())
}

/// A stop future that never fires (for tests that drive shutdown themselves).
pub fn never() -> (oneshot::Sender<()>, Stop) {
    let (tx, rx) = oneshot::channel();
    (tx, rx.shared())
}
