//! The clock of the record path: raw TSC ticks (via `quanta`), scaled to nanoseconds only
//! when a duration or a wall-clock time is needed. Two `Instant::now()` calls would cost
//! more than our whole overhead budget.
//!
//! `quanta::Clock::raw` is a call into another crate that matches on the clock's kind on
//! every read. When quanta reads the TSC, the record path reads it itself, inline: one
//! instruction instead of about twenty per read, and the same ticks quanta scales.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

struct Anchor {
    clock: quanta::Clock,
    raw: u64,
    unix_nanos: u64,
}

/// Whether [`now`] may read the TSC itself: not yet known, yes, or no (quanta uses the
/// OS's monotonic clock, whose raw values are not TSC ticks).
static DIRECT_TSC: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const DIRECT: u8 = 1;
const THROUGH_QUANTA: u8 = 2;

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let clock = quanta::Clock::new();
        let unix_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let raw = clock.raw();
        let direct = if reads_the_tsc(&clock) {
            DIRECT
        } else {
            THROUGH_QUANTA
        };
        DIRECT_TSC.store(direct, Ordering::Relaxed);
        Anchor {
            clock,
            raw,
            unix_nanos,
        }
    })
}

/// Whether `clock`'s raw readings are the TSC's: each of a few readings lies between two
/// TSC reads taken around it. The OS's monotonic clock counts nanoseconds since boot,
/// which the TSC (ticking at a GHz rate since about the same moment) is far ahead of.
#[cfg(target_arch = "x86_64")]
fn reads_the_tsc(clock: &quanta::Clock) -> bool {
    (0..3).all(|_| {
        // SAFETY: `rdtsc` has no preconditions on x86_64.
        let before = unsafe { core::arch::x86_64::_rdtsc() };
        let reading = clock.raw();
        let after = unsafe { core::arch::x86_64::_rdtsc() };
        before <= reading && reading <= after && after - before < 10_000_000
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn reads_the_tsc(_: &quanta::Clock) -> bool {
    false
}

/// Now, in raw ticks.
#[inline]
pub(crate) fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if DIRECT_TSC.load(Ordering::Relaxed) == DIRECT {
        // SAFETY: `rdtsc` has no preconditions on x86_64.
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    now_through_quanta()
}

/// The first reading (which sets the clock up), or every reading when quanta does not
/// read the TSC.
#[cold]
#[inline(never)]
fn now_through_quanta() -> u64 {
    anchor().clock.raw()
}

/// Nanoseconds from `start` to `end` (raw ticks); 0 if `end` is not after `start`.
#[inline]
pub(crate) fn nanos_between(start: u64, end: u64) -> u64 {
    anchor().clock.delta_as_nanos(start, end)
}

/// The wall-clock time of a raw tick reading, in nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(raw: u64) -> u64 {
    let anchor = anchor();
    if raw >= anchor.raw {
        anchor.unix_nanos + anchor.clock.delta_as_nanos(anchor.raw, raw)
    } else {
        anchor
            .unix_nanos
            .saturating_sub(anchor.clock.delta_as_nanos(raw, anchor.raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_go_forward_and_scale_to_elapsed_time() {
        let wall = std::time::Instant::now();
        let start = now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let end = now();
        let outer = wall.elapsed().as_nanos() as u64;
        let measured = nanos_between(start, end);
        // The interval lies within the sleep and the wall-clock interval around it (1 ms of
        // slack for the calibration of ticks to nanoseconds).
        assert!(measured >= 20_000_000, "{measured} ns for a 20 ms sleep");
        assert!(
            measured <= outer + 1_000_000,
            "{measured} ns within {outer} ns"
        );
        assert_ne!(DIRECT_TSC.load(Ordering::Relaxed), UNKNOWN);
    }

    #[test]
    fn the_direct_reading_is_quantas() {
        let clock = &anchor().clock;
        if DIRECT_TSC.load(Ordering::Relaxed) == DIRECT {
            let ours = now();
            let theirs = clock.raw();
            assert!(ours <= theirs && theirs - ours < 10_000_000);
        } else {
            assert!(!reads_the_tsc(clock));
        }
    }
}
