//! A fixed-size log-linear latency histogram.
//!
//! Each power of two is split into 32 linear buckets, so a reported percentile is within
//! about 1.6% of the true value, from 1 ns to about 2.4 hours. The 32 counters of a power of
//! two (256 bytes) are allocated the first time a value falls in it, so a module whose
//! latencies span a few octaves costs about 1.3 KiB (at most 10.3 KiB, when every octave
//! from 1 ns to 2.4 h is hit). Why not the `hdrhistogram` crate: at the same precision it
//! needs several times the memory, and the tracer keeps one histogram per module per
//! shard.

const SUB_BITS: u32 = 5;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Values from 2^43 ns (about 2.4 h) up land in the last bucket; min/max stay exact.
const MAX_EXPONENT: u32 = 43;
const BUCKETS: usize = (MAX_EXPONENT as usize - SUB_BITS as usize + 2) * SUB_BUCKETS;
const OCTAVES: usize = BUCKETS / SUB_BUCKETS;

type Octave = Box<[u64; SUB_BUCKETS]>;

#[derive(Clone)]
pub(crate) struct Histogram {
    octaves: [Option<Octave>; OCTAVES],
    total: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            octaves: [const { None }; OCTAVES],
            total: 0,
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    let exponent = (63 - value.leading_zeros()).min(MAX_EXPONENT);
    if exponent == MAX_EXPONENT {
        return BUCKETS - 1;
    }
    let shift = exponent - SUB_BITS;
    let sub = ((value >> shift) as usize) & (SUB_BUCKETS - 1);
    (shift as usize + 1) * SUB_BUCKETS + sub
}

/// The smallest value in `bucket`, and the width of the bucket.
fn bucket_range(bucket: usize) -> (u64, u64) {
    if bucket < SUB_BUCKETS {
        return (bucket as u64, 1);
    }
    let shift = (bucket / SUB_BUCKETS - 1) as u32;
    let sub = (bucket % SUB_BUCKETS) as u64;
    (((SUB_BUCKETS as u64) | sub) << shift, 1 << shift)
}

impl Histogram {
    #[inline]
    pub(crate) fn record(&mut self, value: u64) {
        let bucket = bucket_of(value);
        self.octaves[bucket / SUB_BUCKETS].get_or_insert_with(|| Box::new([0; SUB_BUCKETS]))
            [bucket % SUB_BUCKETS] += 1;
        self.total += 1;
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.octaves.iter_mut().zip(other.octaves.iter()) {
            let Some(theirs) = theirs else { continue };
            let mine = mine.get_or_insert_with(|| Box::new([0; SUB_BUCKETS]));
            for (count, add) in mine.iter_mut().zip(theirs.iter()) {
                *count += add;
            }
        }
        self.total += other.total;
    }

    /// Every bucket's count, in bucket order (unallocated octaves count zero).
    fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        const ZEROS: [u64; SUB_BUCKETS] = [0; SUB_BUCKETS];
        self.octaves
            .iter()
            .flat_map(|octave| octave.as_deref().unwrap_or(&ZEROS).iter().copied())
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding the
    /// `ceil(q * n)`-th smallest value, clamped to `[min, max]`.
    pub(crate) fn quantile(&self, q: f64, min: u64, max: u64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, count) in self.counts().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bucket_range(bucket);
                return (low + width / 2).clamp(min, max);
            }
        }
        max
    }

    /// Adds to `per_bucket[i]` the recorded values that fall in the fixed bucket
    /// `(bounds[i - 1], bounds[i]]` (`bounds` ascending; the last slot, `per_bucket[bounds.len()]`,
    /// is for values above every bound).
    ///
    /// Each value is taken at the representative [`quantile`](Self::quantile) reports for its
    /// bucket (the middle, clamped to `[min, max]`), so the counts agree with the percentiles.
    /// A value is misplaced only when a bound cuts its log-linear bucket, that is when it lies
    /// within half a bucket (at most 1/64) of the bound: the cumulative count up to `bound`
    /// is at least the true count up to `bound * (1 - 1/64)` and at most the true count up
    /// to `bound * (1 + 1/64)`, and exact when every value is below or above `bound`.
    #[cfg(any(feature = "prometheus", feature = "otlp"))]
    pub(crate) fn count_into(&self, bounds: &[u64], min: u64, max: u64, per_bucket: &mut [u64]) {
        debug_assert_eq!(per_bucket.len(), bounds.len() + 1);
        for (index, octave) in self.octaves.iter().enumerate() {
            let Some(octave) = octave else { continue };
            for (sub, &count) in octave.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let (low, width) = bucket_range(index * SUB_BUCKETS + sub);
                let value = (low + width / 2).clamp(min, max);
                per_bucket[bounds.partition_point(|&bound| bound < value)] += count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut previous = 0;
        for value in (0..100_000u64).chain([1 << 40, (1 << 43) - 1, u64::MAX]) {
            let bucket = bucket_of(value);
            assert!(bucket >= previous && bucket < BUCKETS);
            let (low, width) = bucket_range(bucket);
            if value < 1 << MAX_EXPONENT {
                assert!(
                    low <= value && value < low + width,
                    "{value} not in bucket {bucket}"
                );
            }
            previous = bucket;
        }
    }

    #[cfg(any(feature = "prometheus", feature = "otlp"))]
    #[test]
    fn fixed_bucket_counts_are_within_a_64th_of_each_bound() {
        let bounds: Vec<u64> = (0..40).map(|i| 1_000 + i * 997_331).collect();
        let mut histogram = Histogram::default();
        let mut values = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let value = 500 + x % 40_000_000;
            values.push(value);
            histogram.record(value);
        }
        let (min, max) = (*values.iter().min().unwrap(), *values.iter().max().unwrap());
        let mut per_bucket = vec![0; bounds.len() + 1];
        histogram.count_into(&bounds, min, max, &mut per_bucket);
        assert_eq!(per_bucket.iter().sum::<u64>(), values.len() as u64);
        let mut cumulative = 0;
        for (bound, count) in bounds.iter().zip(&per_bucket) {
            cumulative += count;
            let at_most = |limit: f64| values.iter().filter(|&&v| v as f64 <= limit).count() as u64;
            let below = |limit: f64| values.iter().filter(|&&v| (v as f64) < limit).count() as u64;
            let b = *bound as f64;
            assert!(at_most(b * (1.0 - 1.0 / 64.0)) <= cumulative, "le {bound}");
            assert!(cumulative <= below(b * (1.0 + 1.0 / 64.0)), "le {bound}");
        }
        // Every value on one side of a bound: exact.
        let mut one = Histogram::default();
        for value in [1_000_100, 1_000_200, 1_000_300] {
            one.record(value);
        }
        let mut per_bucket = [0; 3];
        one.count_into(
            &[1_000_050, 1_000_300],
            1_000_100,
            1_000_300,
            &mut per_bucket,
        );
        assert_eq!(per_bucket, [0, 3, 0]);
    }

    #[test]
    fn quantiles_are_within_two_percent() {
        let mut histogram = Histogram::default();
        for value in 1..=10_000u64 {
            histogram.record(value * 1_000);
        }
        for (q, expected) in [(0.5, 5_000_000.0), (0.95, 9_500_000.0), (0.99, 9_900_000.0)] {
            let got = histogram.quantile(q, 1_000, 10_000_000) as f64;
            assert!(
                (got - expected).abs() / expected < 0.02,
                "q{q}: {got} vs {expected}"
            );
        }
    }
}
