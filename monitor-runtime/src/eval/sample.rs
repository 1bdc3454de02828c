//! Which calls a judge sees: a fraction of traces chosen by their id, so that every judge
//! with the same fraction takes or leaves a whole trace, in every process; and the
//! environment's word over the code's.

/// A fraction in `0..=1` as a threshold on a trace id's hash (NaN and negatives are 0).
pub(super) fn threshold(fraction: f64) -> u64 {
    if fraction.is_nan() || fraction <= 0.0 {
        0
    } else if fraction >= 1.0 {
        u64::MAX
    } else {
        (fraction * u64::MAX as f64) as u64
    }
}

/// `true` when the trace `trace_id` is in the sample `threshold` stands for.
#[inline]
pub(super) fn sampled(trace_id: u128, threshold: u64) -> bool {
    threshold == u64::MAX || (threshold != 0 && mix(trace_id) < threshold)
}

/// A well-spread 64-bit hash of a trace id (splitmix64's finaliser over both halves), so
/// that ids from any generator (sequential ones included) sample evenly.
fn mix(trace_id: u128) -> u64 {
    let mut x = (trace_id as u64) ^ ((trace_id >> 64) as u64).rotate_left(32);
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The environment variable for one module's fraction: `MONITOR_JUDGE_SAMPLE_` and the
/// module's name in capitals, every character that is not a letter or digit as `_`
/// (`answer::Bot` → `MONITOR_JUDGE_SAMPLE_ANSWER__BOT`).
pub(crate) fn module_variable(module: &str) -> String {
    let name: String = module
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("MONITOR_JUDGE_SAMPLE_{name}")
}

/// The fraction for `module`: `MONITOR_JUDGE_SAMPLE_<MODULE>`, else
/// `MONITOR_JUDGE_SAMPLE`, else `in_code`. A value that is not a number in `0..=1` is
/// ignored, with a warning.
pub(super) fn fraction(module: &str, in_code: f64) -> f64 {
    for variable in [module_variable(module), "MONITOR_JUDGE_SAMPLE".to_owned()] {
        let Ok(text) = std::env::var(&variable) else {
            continue;
        };
        match text.trim().parse::<f64>() {
            Ok(value) if (0.0..=1.0).contains(&value) => return value,
            _ => tracing::warn!(
                target: "monitor",
                "{variable}={text:?} is not a fraction from 0 to 1; ignored"
            ),
        }
    }
    in_code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_and_none_are_exact_and_a_fraction_is_near() {
        let all = threshold(1.0);
        let none = threshold(0.0);
        let tenth = threshold(0.1);
        let ids = (1..=20_000u128).map(|i| i * 0x9e37_79b9);
        let (mut a, mut n, mut t) = (0, 0, 0);
        for id in ids {
            a += sampled(id, all) as u32;
            n += sampled(id, none) as u32;
            t += sampled(id, tenth) as u32;
        }
        assert_eq!((a, n), (20_000, 0));
        // Binomial(20_000, 0.1): sd ~42; five of them.
        assert!((1_790..=2_210).contains(&t), "{t}");
        assert_eq!(threshold(f64::NAN), 0);
        assert_eq!(threshold(-1.0), 0);
    }

    #[test]
    fn module_names_become_variable_names() {
        assert_eq!(
            module_variable("answer::Bot"),
            "MONITOR_JUDGE_SAMPLE_ANSWER__BOT"
        );
    }
}
