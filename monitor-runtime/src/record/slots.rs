//! The export queue's slots: one count of free places shared by every tracer's outboxes,
//! so the calls waiting for the exporter stay within one bound however many tracers there
//! are and however long they live. A shard takes slots a few at a time and fills them
//! under the lock it already holds; the exporter gives them back once it is done with
//! what it took.

#[cfg(monitor_loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(monitor_loom))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// Free places in the queue, out of `capacity`. Only counts: nothing is published through
/// them, so relaxed operations do.
#[derive(Debug)]
pub(crate) struct Slots {
    free: AtomicUsize,
    capacity: AtomicUsize,
}

impl Slots {
    #[cfg(not(monitor_loom))]
    pub(crate) const fn new() -> Self {
        Slots {
            free: AtomicUsize::new(0),
            capacity: AtomicUsize::new(0),
        }
    }

    #[cfg(monitor_loom)]
    pub(crate) fn new() -> Self {
        Slots {
            free: AtomicUsize::new(0),
            capacity: AtomicUsize::new(0),
        }
    }

    /// Starts over with `capacity` free places.
    pub(crate) fn reset(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::Relaxed);
        self.free.store(capacity, Ordering::Relaxed);
    }

    /// Takes up to `want` free places, and says how many it took: 0 when the queue is full.
    pub(crate) fn take(&self, want: usize) -> usize {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            if free == 0 {
                return 0;
            }
            let took = want.min(free);
            match self.free.compare_exchange_weak(
                free,
                free - took,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return took,
                Err(now) => free = now,
            }
        }
    }

    /// Gives back `count` places. Never past the capacity: places taken before a
    /// [`reset`](Self::reset) and given back after it do not grow the queue.
    pub(crate) fn give_back(&self, count: usize) {
        if count == 0 {
            return;
        }
        let capacity = self.capacity.load(Ordering::Relaxed);
        let _ = self
            .free
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |free| {
                Some(free.saturating_add(count).min(capacity))
            });
    }

    #[cfg(test)]
    fn free(&self) -> usize {
        self.free.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(monitor_loom)))]
mod tests {
    use super::Slots;

    #[test]
    fn places_are_taken_up_to_the_capacity_and_given_back() {
        let slots = Slots::new();
        slots.reset(5);
        assert_eq!(slots.take(3), 3);
        assert_eq!(slots.take(3), 2);
        assert_eq!(slots.take(1), 0);
        slots.give_back(4);
        assert_eq!(slots.free(), 4);
        slots.give_back(9);
        assert_eq!(slots.free(), 5, "never past the capacity");
    }
}

/// Model checks: every interleaving of writers taking places beside the exporter giving
/// them back. Run with
/// `RUSTFLAGS="--cfg monitor_loom" cargo test -p monitor-runtime --lib --release slots`.
#[cfg(all(test, monitor_loom))]
mod loom_tests {
    use loom::sync::Arc;

    use super::Slots;

    #[test]
    fn writers_together_never_take_more_than_the_capacity() {
        loom::model(|| {
            let slots = Arc::new(Slots::new());
            slots.reset(3);
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    let slots = Arc::clone(&slots);
                    loom::thread::spawn(move || slots.take(2))
                })
                .collect();
            let took: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
            assert_eq!(took, 3, "every free place taken once, no more");
            assert_eq!(slots.free(), 0);
        });
    }

    #[test]
    fn places_given_back_while_others_take_are_never_lost_or_doubled() {
        loom::model(|| {
            let slots = Arc::new(Slots::new());
            slots.reset(2);
            assert_eq!(slots.take(2), 2);
            let exporter = {
                let slots = Arc::clone(&slots);
                loom::thread::spawn(move || slots.give_back(2))
            };
            let writer = {
                let slots = Arc::clone(&slots);
                loom::thread::spawn(move || slots.take(1))
            };
            exporter.join().unwrap();
            let took = writer.join().unwrap();
            assert!(took <= 1);
            assert_eq!(slots.free() + took, 2, "held plus free is the capacity");
        });
    }
}
