//! A bounded single-producer ring: the per-thread buffer a call's record goes into.
//!
//! The owning thread pushes with two plain stores (the slot, then `tail`), no lock and no
//! read-modify-write; consumers take records out under the ring's own lock, which the
//! producer takes only to empty a full ring itself. So the record path writes no cache line
//! another writer writes, and a reader costs a writer nothing until its ring is full.
//!
//! Only the thread holding the [`Producer`] pushes (it is neither `Clone` nor `Sync`);
//! any thread may [`drain`](Ring::drain).

use std::mem::MaybeUninit;

use sync::{AtomicBool, AtomicUsize, Mutex, Ordering, UnsafeCell};

#[cfg(monitor_loom)]
mod sync {
    pub(super) use loom::cell::UnsafeCell;
    pub(super) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use loom::sync::Arc;
    pub(super) use loom::sync::Mutex;
}

#[cfg(not(monitor_loom))]
mod sync {
    pub(super) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use std::sync::Arc;

    /// `std`'s `UnsafeCell` with loom's closure API, so one body serves both builds.
    #[derive(Debug)]
    pub(super) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(super) fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(super) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(super) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// `parking_lot`'s mutex behind loom's `lock().unwrap()` shape.
    #[derive(Debug, Default)]
    pub(super) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(super) fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }

        pub(super) fn lock(
            &self,
        ) -> Result<parking_lot::MutexGuard<'_, T>, std::convert::Infallible> {
            Ok(self.0.lock())
        }
    }
}

pub(crate) use sync::Arc;

/// Keeps the producer's and the consumers' counters on separate cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// A ring of at most `capacity` (a power of two) values.
#[derive(Debug)]
pub(crate) struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// The next slot to read: written by consumers (under `consumer`), read by the producer
    /// when the ring looks full.
    head: Padded<AtomicUsize>,
    /// The next slot to write: written by the producer only.
    tail: Padded<AtomicUsize>,
    /// Held while taking values out.
    consumer: Mutex<()>,
    /// Set when the ring's consumers are gone: a producer holding it lets it go.
    closed: AtomicBool,
}

// SAFETY: a slot is written only by the one producer, between `head` and `tail`'s next
// value, and read only by a consumer holding `consumer`, between `head` and the `tail` it
// loaded with `Acquire` (which the producer published with `Release` after writing it).
unsafe impl<T: Send> Send for Ring<T> {}
unsafe impl<T: Send> Sync for Ring<T> {}

/// The one handle that pushes into a ring.
#[derive(Debug)]
pub(crate) struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// The producer's copy of `tail` (only it writes `tail`).
    tail: usize,
    /// `head` as last seen: the ring has room while `tail - head < capacity`.
    head: usize,
}

impl<T> Ring<T> {
    /// A ring of `capacity` slots (rounded up to a power of two, at least 2) and its
    /// producer.
    pub(crate) fn with_capacity(capacity: usize) -> (Arc<Ring<T>>, Producer<T>) {
        let capacity = capacity.max(2).next_power_of_two();
        let ring = Arc::new(Ring {
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            consumer: Mutex::new(()),
            closed: AtomicBool::new(false),
        });
        let producer = Producer {
            ring: Arc::clone(&ring),
            tail: 0,
            head: 0,
        };
        (ring, producer)
    }

    fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Takes every value pushed so far out of the ring, oldest first, into `take`.
    pub(crate) fn drain(&self, mut take: impl FnMut(T)) {
        let _consumer = self.consumer.lock().unwrap();
        let tail = self.tail.0.load(Ordering::Acquire);
        let mut head = self.head.0.load(Ordering::Relaxed);
        while head != tail {
            let slot = &self.slots[head & (self.capacity() - 1)];
            // SAFETY: slots in `head..tail` were written and published by the producer,
            // which will not touch them again until `head` moves past them; only one
            // consumer runs at a time.
            let value = slot.with(|value| unsafe { (*value).assume_init_read() });
            head = head.wrapping_add(1);
            // Published per value: were `take` to panic, the values before it stay taken.
            self.head.0.store(head, Ordering::Release);
            take(value);
        }
    }

    /// `true` when nothing waits in the ring.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.0.load(Ordering::Acquire) == self.tail.0.load(Ordering::Acquire)
    }

    /// Tells the producer the ring's consumers are gone.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let (mut head, tail) = (
            self.head.0.load(Ordering::Relaxed),
            self.tail.0.load(Ordering::Relaxed),
        );
        while head != tail {
            let slot = &self.slots[head & (self.capacity() - 1)];
            // SAFETY: as in `drain`; no one else holds the ring any more.
            slot.with_mut(|value| unsafe { (*value).assume_init_drop() });
            head = head.wrapping_add(1);
        }
    }
}

impl<T> Producer<T> {
    /// Pushes `value`, or gives it back when the ring is full.
    #[inline]
    pub(crate) fn push(&mut self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        match self.push_with(|| value.take().expect("made once")) {
            true => Ok(()),
            false => Err(value.expect("not made when full")),
        }
    }

    /// Pushes the value `make` makes, written straight into its slot, and returns `true`;
    /// when the ring is full, returns `false` without calling `make`.
    #[inline]
    pub(crate) fn push_with(&mut self, make: impl FnOnce() -> T) -> bool {
        let ring = &*self.ring;
        if self.tail.wrapping_sub(self.head) >= ring.capacity() {
            self.head = ring.head.0.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head) >= ring.capacity() {
                return false;
            }
        }
        let slot = &ring.slots[self.tail & (ring.capacity() - 1)];
        // SAFETY: the slot is outside `head..tail`: no consumer reads it, and the `Acquire`
        // load of `head` saw the consumer finish reading it before.
        slot.with_mut(|cell| unsafe { (*cell).write(make()) });
        self.tail = self.tail.wrapping_add(1);
        ring.tail.0.store(self.tail, Ordering::Release);
        true
    }

    /// How many values the ring holds when full.
    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// `true` once the ring's consumers let it go.
    pub(crate) fn is_closed(&self) -> bool {
        self.ring.closed.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(monitor_loom)))]
mod tests {
    use super::*;

    #[test]
    fn values_come_out_in_order_and_a_full_ring_gives_the_value_back() {
        let (ring, mut producer) = Ring::with_capacity(4);
        for value in 0..4 {
            producer.push(value).unwrap();
        }
        assert_eq!(producer.push(4), Err(4));
        let mut out = Vec::new();
        ring.drain(|value| out.push(value));
        assert_eq!(out, [0, 1, 2, 3]);
        for value in 4..10 {
            if let Err(value) = producer.push(value) {
                ring.drain(|value| out.push(value));
                producer.push(value).unwrap();
            }
        }
        ring.drain(|value| out.push(value));
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert!(ring.is_empty());
    }

    #[test]
    fn values_left_in_a_dropped_ring_are_dropped() {
        let counted = std::sync::Arc::new(());
        let (ring, mut producer) = Ring::with_capacity(8);
        for _ in 0..5 {
            producer.push(std::sync::Arc::clone(&counted)).unwrap();
        }
        drop(producer);
        drop(ring);
        assert_eq!(std::sync::Arc::strong_count(&counted), 1);
    }

    #[test]
    fn a_producer_and_a_consumer_on_two_threads_lose_and_repeat_nothing() {
        let (ring, mut producer) = Ring::with_capacity(16);
        let total = 100_000u64;
        let consumer = std::thread::spawn({
            let ring = Arc::clone(&ring);
            move || {
                let mut seen = Vec::new();
                while seen.len() < total as usize {
                    ring.drain(|value| seen.push(value));
                }
                seen
            }
        });
        for mut value in 0..total {
            while let Err(back) = producer.push(value) {
                value = back;
                std::hint::spin_loop();
            }
        }
        assert_eq!(consumer.join().unwrap(), (0..total).collect::<Vec<_>>());
    }
}

/// Model checks: every interleaving of a producer with a consumer (or two) taking values
/// out, and of the producer emptying its own full ring beside a consumer. Run with
/// `RUSTFLAGS="--cfg monitor_loom" cargo test -p monitor-runtime --lib --release ring`.
#[cfg(all(test, monitor_loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn a_consumer_beside_the_producer_sees_every_value_once_in_order() {
        loom::model(|| {
            let (ring, mut producer) = Ring::with_capacity(2);
            let consumer = loom::thread::spawn({
                let ring = Arc::clone(&ring);
                move || {
                    let mut seen = Vec::new();
                    ring.drain(|value| seen.push(value));
                    seen
                }
            });
            let mut drained_here = Vec::new();
            for value in 0..3 {
                if let Err(value) = producer.push(value) {
                    ring.drain(|value| drained_here.push(value));
                    producer.push(value).unwrap();
                }
            }
            let seen = consumer.join().unwrap();
            ring.drain(|value| drained_here.push(value));
            let mut all = seen.clone();
            all.extend(&drained_here);
            all.sort_unstable();
            assert_eq!(all, [0, 1, 2], "every value exactly once");
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order");
            assert!(drained_here.windows(2).all(|w| w[0] < w[1]), "in order");
        });
    }

    #[test]
    fn two_consumers_never_take_the_same_value() {
        loom::model(|| {
            let (ring, mut producer) = Ring::with_capacity(2);
            producer.push(1u8).unwrap();
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let ring = Arc::clone(&ring);
                    loom::thread::spawn(move || {
                        let mut seen = Vec::new();
                        ring.drain(|value| seen.push(value));
                        seen
                    })
                })
                .collect();
            producer
                .push(2)
                .unwrap_or_else(|_| unreachable!("room for two"));
            let mut all: Vec<u8> = consumers
                .into_iter()
                .flat_map(|consumer| consumer.join().unwrap())
                .collect();
            ring.drain(|value| all.push(value));
            all.sort_unstable();
            assert_eq!(all, [1, 2]);
        });
    }
}
