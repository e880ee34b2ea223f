//! A single-threaded broadcast event: tasks wait for "something changed" and re-check state.
//!
//! The transport's components (queues, links, the inbox) each own their state in `Cell`s on one
//! shard; waiting tasks need only to be woken when it changes, so a generation counter and a
//! list of wakers is enough: no locks, no channels, nothing held across an await.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    task::{Context, Poll, Waker},
};

#[derive(Default)]
pub(crate) struct Event {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
    /// The emptied list from the last notify, kept so that notifying does not allocate.
    spare: RefCell<Vec<Waker>>,
}

impl Event {
    /// Wakes every current listener.
    pub(crate) fn notify(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        if self.wakers.borrow().is_empty() {
            return;
        }
        let mut woken = std::mem::take(&mut *self.spare.borrow_mut());
        std::mem::swap(&mut *self.wakers.borrow_mut(), &mut woken);
        // Waking only schedules tasks on this executor; none runs (or borrows) inline.
        for w in woken.drain(..) {
            w.wake();
        }
        *self.spare.borrow_mut() = woken;
    }

    /// A future that completes at the first `notify` after this call. Create it before
    /// checking the condition it waits for, so that no change can slip in between.
    pub(crate) fn listen(&self) -> Listen<'_> {
        Listen {
            event: self,
            start: self.generation.get(),
        }
    }
}

pub(crate) struct Listen<'a> {
    event: &'a Event,
    start: u64,
}

impl Future for Listen<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.generation.get() != self.start {
            return Poll::Ready(());
        }
        let mut wakers = self.event.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
