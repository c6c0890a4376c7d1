//! A producer thread feeding batches of records to a consumer as one iterator, so that
//! reading and parsing overlap the store's sorting and writing.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use cairn_model::Record;

/// Records per batch sent between the threads.
pub const BATCH: usize = 4096;
/// Batches in flight between the threads.
const DEPTH: usize = 4;

/// The producer's end: sends batches; `false` once the consumer has gone.
pub struct Sender {
    tx: SyncSender<Vec<Record>>,
    batch: Vec<Record>,
}

impl Sender {
    /// Queues one record; false once the consumer has gone.
    pub fn push(&mut self, r: Record) -> bool {
        self.batch.push(r);
        if self.batch.len() >= BATCH {
            return self.send();
        }
        true
    }

    fn send(&mut self) -> bool {
        let b = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.send(b).is_ok()
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.send();
        }
    }
}

/// The consumer's end: every record sent, in order.
pub struct Received {
    rx: Receiver<Vec<Record>>,
    cur: std::vec::IntoIter<Record>,
}

impl Iterator for Received {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
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
pub fn pipeline<T: Send, U>(
    produce: impl FnOnce(&mut Sender) -> T + Send,
    consume: impl FnOnce(Received) -> U,
) -> (T, U) {
    let (tx, rx) = sync_channel(DEPTH);
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut sender = Sender {
                tx,
                batch: Vec::with_capacity(BATCH),
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
