//! The clock of the record path: raw TSC ticks (via `quanta`), scaled to nanoseconds only
//! when a duration or a wall-clock time is needed. Two `Instant::now()` calls would cost
//! more than our whole overhead budget.

use std::sync::OnceLock;

struct Anchor {
    clock: quanta::Clock,
    raw: u64,
    unix_nanos: u64,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let clock = quanta::Clock::new();
        let unix_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let raw = clock.raw();
        Anchor {
            clock,
            raw,
            unix_nanos,
        }
    })
}

/// Now, in raw ticks.
#[inline]
pub(crate) fn now() -> u64 {
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
