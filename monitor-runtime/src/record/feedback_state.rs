//! What a tracer keeps about feedback (`feedback.rs`): the keys seen, to refuse duplicates
//! within a bound, and the counts.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;
use rustc_hash::FxHashSet;

/// The most feedback keys a tracer remembers to refuse duplicates; older keys are
/// forgotten first (a duplicate of feedback that old is applied again).
pub const MAX_FEEDBACK_KEYS: usize = 100_000;

/// A tracer's feedback bookkeeping: the keys seen (bounded, oldest forgotten first) and
/// the counts.
#[derive(Debug, Default)]
pub(crate) struct FeedbackState {
    pub(super) seen: Mutex<SeenKeys>,
    pub(super) received: AtomicU64,
    pub(super) applied: AtomicU64,
    pub(super) unmatched: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) dropped: AtomicU64,
}

impl FeedbackState {
    /// Starts the counts again (`clear`); the keys seen are kept, so feedback sent before
    /// is still a duplicate.
    pub(super) fn reset_counts(&self) {
        for count in [
            &self.received,
            &self.applied,
            &self.unmatched,
            &self.duplicates,
            &self.dropped,
        ] {
            count.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct SeenKeys {
    set: FxHashSet<u64>,
    order: VecDeque<u64>,
}

impl SeenKeys {
    /// `false` when `key` was seen (and is still remembered).
    pub(super) fn insert(&mut self, key: u64) -> bool {
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > MAX_FEEDBACK_KEYS {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_keys_stay_bounded_and_forget_the_oldest() {
        let mut seen = SeenKeys::default();
        for key in 0..MAX_FEEDBACK_KEYS as u64 + 10 {
            assert!(seen.insert(key));
        }
        assert_eq!(seen.set.len(), MAX_FEEDBACK_KEYS);
        assert!(seen.insert(0), "the oldest was forgotten");
        assert!(!seen.insert(MAX_FEEDBACK_KEYS as u64));
    }
}
