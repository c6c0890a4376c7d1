//! A producer thread feeding batches of items (records, or chunks of events) to a
//! consumer as one iterator, so that reading and parsing overlap the store's sorting and
//! writing.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Items per batch sent between the threads.
pub const BATCH: usize = 4096;
/// Batches in flight between the threads.
const DEPTH: usize = 4;

/// The producer's end: sends batches; `false` once the consumer has gone.
pub struct Sender<T> {
    tx: SyncSender<Vec<T>>,
    batch: Vec<T>,
}

impl<T> Sender<T> {
    /// Queues one item; false once the consumer has gone.
    pub fn push(&mut self, r: T) -> bool {
        if self.batch.capacity() == 0 {
            self.batch.reserve_exact(BATCH);
        }
        self.batch.push(r);
        if self.batch.len() >= BATCH {
            return self.send();
        }
        true
    }

    /// Queues one item that is a batch by itself (a chunk of thousands of events) and
    /// sends it with those before it.
    pub fn push_now(&mut self, r: T) -> bool {
        self.batch.push(r);
        self.send()
    }

    /// Sends the batch; the next is allocated by the next [`Sender::push`] (a chunk
    /// sent alone needs no room for a batch of records).
    fn send(&mut self) -> bool {
        self.tx.send(std::mem::take(&mut self.batch)).is_ok()
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.send();
        }
    }
}

/// The consumer's end: every item sent, in order.
pub struct Received<T> {
    rx: Receiver<Vec<T>>,
    cur: std::vec::IntoIter<T>,
}

impl<T> Iterator for Received<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(r) = self.cur.next() {
                return Some(r);
            }
            self.cur = self.rx.recv().ok()?.into_iter();
        }
    }
}

/// Runs `produce` on its own thread and `consume` on this one, connected by a bounded
/// channel. If `consume` returns early, the producer's pushes return false.
pub fn pipeline<I: Send, T: Send, U>(
    produce: impl FnOnce(&mut Sender<I>) -> T + Send,
    consume: impl FnOnce(Received<I>) -> U,
) -> (T, U) {
    let (tx, rx) = sync_channel(DEPTH);
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut sender = Sender {
                tx,
                batch: Vec::new(),
            };
            produce(&mut sender)
        });
        let u = consume(Received {
            rx,
            cur: Vec::new().into_iter(),
        });
        match producer.join() {
            Ok(t) => (t, u),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
