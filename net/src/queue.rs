//! A bounded single-shard queue, limited both in items and in bytes.
//!
//! Used for each peer's outbound frames (producers must never wait: `try_push` fails when
//! full, so the Raft driver can drop and move on) and for the inbox of inbound items
//! (producers are stream readers that do wait, so a slow consumer stops them reading and QUIC
//! flow control pushes back on the remote sender).

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
};

use crate::event::Event;

pub(crate) struct BoundedQueue<T> {
    items: RefCell<VecDeque<(T, usize)>>,
    bytes: Cell<usize>,
    max_items: usize,
    max_bytes: usize,
    closed: Cell<bool>,
    /// Notified on push and close.
    pushed: Event,
    /// Notified on pop, clear and close.
    popped: Event,
}

/// The queue refused an item; it is handed back.
pub(crate) struct Full<T>(pub T);

impl<T> BoundedQueue<T> {
    pub(crate) fn new(max_items: usize, max_bytes: usize) -> Self {
        Self {
            items: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
            max_items,
            max_bytes,
            closed: Cell::new(false),
            pushed: Event::default(),
            popped: Event::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes.get()
    }

    fn has_room(&self, weight: usize) -> bool {
        let items = self.items.borrow();
        // An empty queue takes any item, so a single item larger than the byte budget (the
        // caller bounds items by max_msg_bytes) cannot wedge it.
        items.is_empty()
            || (items.len() < self.max_items && self.bytes.get() + weight <= self.max_bytes)
    }

    /// Appends without waiting, or hands the item back when the queue is full or closed.
    pub(crate) fn try_push(&self, item: T, weight: usize) -> Result<(), Full<T>> {
        if self.closed.get() || !self.has_room(weight) {
            return Err(Full(item));
        }
        self.items.borrow_mut().push_back((item, weight));
        self.bytes.set(self.bytes.get() + weight);
        self.pushed.notify();
        Ok(())
    }

    /// Appends, waiting for room. Hands the item back if the queue is closed.
    pub(crate) async fn push(&self, item: T, weight: usize) -> Result<(), Full<T>> {
        loop {
            let changed = self.popped.listen();
            if self.closed.get() {
                return Err(Full(item));
            }
            if self.has_room(weight) {
                return self.try_push(item, weight);
            }
            changed.await;
        }
    }

    pub(crate) fn try_pop(&self) -> Option<T> {
        let (item, weight) = self.items.borrow_mut().pop_front()?;
        self.bytes.set(self.bytes.get() - weight);
        self.popped.notify();
        Some(item)
    }

    /// The next item; `None` once the queue is closed and drained.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            let changed = self.pushed.listen();
            if let Some(item) = self.try_pop() {
                return Some(item);
            }
            if self.closed.get() {
                return None;
            }
            changed.await;
        }
    }

    /// Moves items into `out` until `max_bytes` is reached (at least one item). Cancel-safe:
    /// nothing is removed unless this returns. Returns false once closed and drained.
    pub(crate) async fn pop_batch(&self, out: &mut Vec<T>, max_bytes: usize) -> bool {
        loop {
            let changed = self.pushed.listen();
            if !self.is_empty() {
                let mut items = self.items.borrow_mut();
                let mut taken = 0;
                while let Some((_, w)) = items.front() {
                    if !out.is_empty() && taken + *w > max_bytes {
                        break;
                    }
                    let (item, w) = items.pop_front().expect("front exists");
                    taken += w;
                    out.push(item);
                }
                drop(items);
                self.bytes.set(self.bytes.get() - taken);
                self.popped.notify();
                return true;
            }
            if self.closed.get() {
                return false;
            }
            changed.await;
        }
    }

    /// Waits until the queue holds something or is closed.
    pub(crate) async fn wait_nonempty(&self) {
        loop {
            let changed = self.pushed.listen();
            if !self.is_empty() || self.closed.get() {
                return;
            }
            changed.await;
        }
    }

    /// Waits until an item of `weight` would fit (or the queue is closed).
    pub(crate) async fn wait_room(&self, weight: usize) {
        loop {
            let changed = self.popped.listen();
            if self.closed.get() || self.has_room(weight) {
                return;
            }
            changed.await;
        }
    }

    /// Drops every queued item; returns how many there were.
    pub(crate) fn clear(&self) -> usize {
        let n = {
            let mut items = self.items.borrow_mut();
            let n = items.len();
            items.clear();
            n
        };
        self.bytes.set(0);
        self.popped.notify();
        n
    }

    /// Refuses further pushes and wakes every waiter; queued items can still be popped.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        self.pushed.notify();
        self.popped.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_items_and_bytes_but_admits_one_oversized_item() {
        let q = BoundedQueue::new(3, 100);
        assert!(q.try_push(1, 60).is_ok());
        assert!(q.try_push(2, 50).is_err(), "byte bound");
        assert!(q.try_push(3, 40).is_ok());
        assert!(q.try_push(4, 0).is_ok());
        assert!(q.try_push(5, 0).is_err(), "item bound");
        assert_eq!((q.len(), q.bytes()), (3, 100));
        assert_eq!(q.clear(), 3);
        assert!(q.try_push(6, 500).is_ok(), "empty queue takes a big item");
        assert!(q.try_push(7, 1).is_err());
    }

    #[test]
    fn waiting_push_and_batch_pop() {
        glommio::LocalExecutor::default().run(async {
            let q = std::rc::Rc::new(BoundedQueue::new(2, 1 << 20));
            let q2 = q.clone();
            let producer = glommio::spawn_local(async move {
                for i in 0..10u32 {
                    q2.push(i, 4).await.ok().unwrap();
                }
                q2.close();
            });
            let mut got = Vec::new();
            let mut batch = Vec::new();
            while q.pop_batch(&mut batch, 1 << 20).await {
                assert!(batch.len() <= 2);
                got.append(&mut batch);
            }
            producer.await;
            assert_eq!(got, (0..10).collect::<Vec<_>>());
            assert!(q.try_push(1, 1).is_err(), "closed");
        });
    }
}
