//! Seeded pseudo-randomness for the pure core (Poisson arrivals) and the simulated endpoint.
//!
//! Every generator here is built from an explicit `u64` seed: nothing reads OS entropy, so a run replays exactly
//! from its seed. Derived streams ([`SeededRng::for_stream`]) give independent, reproducible sequences per request
//! without sharing one generator across requests (whose order of use could vary).

use rand_core::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// SplitMix64's finaliser: a cheap bijective mixer that turns nearby integers into unrelated ones.
pub const fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A small seeded generator (PCG-64 MCG) with the few distributions the load generator needs.
#[derive(Debug, Clone)]
pub struct SeededRng(Pcg64Mcg);

impl SeededRng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRng(Pcg64Mcg::seed_from_u64(seed))
    }

    /// The generator for sub-stream `stream` of `seed` (e.g. one per request), independent of every other stream.
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        SeededRng::new(mix(seed ^ mix(stream)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        if hi > lo {
            lo + (hi - lo) * self.unit()
        } else {
            lo
        }
    }

    /// An exponential variate with mean 1 (inverse-CDF; `1 - u` is in `(0, 1]`, so the log is finite).
    pub fn exp1(&mut self) -> f64 {
        -(1.0 - self.unit()).ln()
    }

    /// A standard normal variate (Box–Muller; one of the pair is discarded to keep the state simple).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform in `0..n` without modulo bias; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Rejection: draw from the largest multiple of n that fits in u64.
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = SeededRng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let mut b = SeededRng::new(7);
        assert!(a.iter().all(|&x| x == b.next_u64()));
        assert_ne!(
            SeededRng::for_stream(7, 0).next_u64(),
            SeededRng::for_stream(7, 1).next_u64()
        );
    }

    #[test]
    fn distributions_have_the_right_means() {
        let mut r = SeededRng::new(42);
        let n = 100_000;
        let exp_mean = (0..n).map(|_| r.exp1()).sum::<f64>() / n as f64;
        // Exp(1) has sd 1: the mean of n draws has sd 1/sqrt(n) ≈ 0.003; allow 5 sd.
        assert!((exp_mean - 1.0).abs() < 5.0 / (n as f64).sqrt(), "{exp_mean}");
        let normal_mean = (0..n).map(|_| r.standard_normal()).sum::<f64>() / n as f64;
        assert!(normal_mean.abs() < 5.0 / (n as f64).sqrt(), "{normal_mean}");
        let unit: Vec<f64> = (0..1000).map(|_| r.unit()).collect();
        assert!(unit.iter().all(|u| (0.0..1.0).contains(u)));
        assert!((0..1000).all(|_| r.below(3) < 3));
        assert_eq!(r.below(0), 0);
    }
}
