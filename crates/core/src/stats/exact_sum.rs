//! Exact floating-point sums: the accumulator behind every mean, standard deviation and cost total.
//!
//! A plain `f64` running sum depends on the order of its additions, so two stats merged from disjoint halves
//! would differ in the last bits from the stats of the whole. [`ExactSum`] holds the exact sum instead, so
//! [`ExactSum::value`] (the sum correctly rounded) does not depend on order or grouping.
//!
//! Representation: a fixed-point superaccumulator (after R. M. Neal's "small superaccumulator", `xsum`). Every
//! finite `f64` is an integer multiple of 2^-1074, so the exact sum is one wide integer, kept as 67 signed
//! 64-bit chunks of which chunk `j` counts units of 2^(32j − 1075). Adding a value touches two chunks, with no
//! data-dependent branch; carries are propagated every [`ADDS_PER_CARRY`] additions. Converting back goes
//! through Shewchuk's partials (Python's `math.fsum`), which round the exact sum once. Products are added
//! exactly through Dekker's two-product, which is what lets the variance be formed without cancellation.

/// Number of chunks: 2^11 exponents / 32 bits per chunk, plus room for carries.
const CHUNKS: usize = 67;
/// Exponent of chunk 0's unit: chunk `j` counts units of 2^(32j + LOWEST_EXP).
const LOWEST_EXP: i32 = -1075;
/// Additions between carry propagations. One addition grows a chunk by less than 2^53, and a chunk starts a
/// round below 2^33 (after a merge), so 512 additions stay below 2^63.
const ADDS_PER_CARRY: u32 = 512;

/// The exact sum of the finite `f64` values added to it. Non-finite inputs are a caller bug (distributions drop
/// them first); a sum beyond the `f64` range reads as infinity.
#[derive(Debug, Clone)]
pub(crate) struct ExactSum {
    chunks: [i64; CHUNKS],
    adds_until_carry: u32,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            chunks: [0; CHUNKS],
            adds_until_carry: ADDS_PER_CARRY,
        }
    }
}

impl ExactSum {
    /// Adds `x` exactly.
    pub fn add(&mut self, x: f64) {
        debug_assert!(x.is_finite(), "ExactSum::add({x})");
        if self.adds_until_carry == 0 {
            self.carry();
        }
        self.adds_until_carry -= 1;
        let bits = x.to_bits();
        let biased_exp = ((bits >> 52) & 0x7ff) as u32;
        let fraction = bits & ((1 << 52) - 1);
        // x = ±mantissa · 2^(exp − 1075); subnormals share the lowest normal exponent, without the implicit bit.
        let (exp, mantissa) = if biased_exp == 0 {
            (1, fraction)
        } else {
            (biased_exp, fraction | 1 << 52)
        };
        let (chunk, shift) = ((exp >> 5) as usize, exp & 31);
        // mantissa · 2^shift spans up to 84 bits: the low 32 go to `chunk`, the rest to `chunk + 1`.
        let low = ((mantissa << shift) & 0xffff_ffff) as i64;
        let high = (mantissa >> (32 - shift)) as i64;
        let sign = 1 - 2 * (bits >> 63) as i64;
        self.chunks[chunk] += sign * low;
        self.chunks[chunk + 1] += sign * high;
    }

    /// Adds every value held by `other`.
    pub fn add_sum(&mut self, other: &ExactSum) {
        self.carry();
        for (mine, theirs) in self.chunks.iter_mut().zip(&other.chunks) {
            *mine += theirs;
        }
        self.carry();
    }

    /// Adds `a·b` exactly.
    pub fn add_product(&mut self, a: f64, b: f64) {
        let (hi, lo) = two_product(a, b);
        self.add(hi);
        self.add(lo);
    }

    /// Adds `k` times the value held by `other`, exactly.
    pub fn add_scaled(&mut self, other: &ExactSum, k: f64) {
        for term in other.terms() {
            self.add_product(term, k);
        }
    }

    /// The sum, correctly rounded to the nearest `f64`.
    pub fn value(&self) -> f64 {
        let mut partials = Partials::default();
        self.terms().into_iter().for_each(|t| partials.add(t));
        partials.value()
    }

    /// The sum divided by `n`: the rounded quotient plus one exact correction step, so it matches the correctly
    /// rounded quotient of the exact sum (Python's `statistics.mean`) except in rare double-rounding ties.
    pub fn div(&self, n: f64) -> f64 {
        let q = self.value() / n;
        let mut residual = self.clone();
        residual.add_product(-q, n);
        q + residual.value() / n
    }

    /// Moves each chunk's bits above the 32nd into the next chunk, leaving chunks `0..CHUNKS − 1` in `[0, 2^32)`.
    fn carry(&mut self) {
        for j in 0..CHUNKS - 1 {
            let carry = self.chunks[j] >> 32; // arithmetic shift: floor division, also for negative chunks
            self.chunks[j] -= carry << 32;
            self.chunks[j + 1] += carry;
        }
        self.adds_until_carry = ADDS_PER_CARRY;
    }

    /// Exact `f64` terms (at most one per chunk, all of one sign) whose sum is the held value.
    fn terms(&self) -> Vec<f64> {
        let mut n = self.clone();
        n.carry();
        // After a carry only the top chunk can be negative; a negative total is handled by its magnitude.
        let sign = if n.chunks[CHUNKS - 1] < 0 {
            n.chunks.iter_mut().for_each(|c| *c = -*c);
            n.carry();
            -1.0
        } else {
            1.0
        };
        let exps = (0..CHUNKS as i32).map(|j| 32 * j + LOWEST_EXP);
        // Chunk 0 only ever receives even counts (the lowest value bit, 2^-1074, is two of its units), so every
        // term is a multiple of 2^-1074 and converts exactly.
        n.chunks
            .iter()
            .zip(exps)
            .filter(|(&c, _)| c != 0)
            .map(|(&c, e)| sign * scaled(c as f64, e))
            .collect()
    }
}

/// `m · 2^e`, exact whenever the result is representable: the power of two is applied in two normal steps, since
/// 2^e alone would underflow (e < −1022) or overflow (e > 1023).
fn scaled(m: f64, e: i32) -> f64 {
    let pow2 = |e: i32| f64::from_bits(((e + 1023) as u64) << 52);
    if e < -1022 {
        m * pow2(e + 128) * pow2(-128)
    } else if e > 1023 {
        m * pow2(e - 128) * pow2(128)
    } else {
        m * pow2(e)
    }
}

/// Shewchuk's non-overlapping partials (CPython's `math.fsum`): used to round the superaccumulator's terms once.
#[derive(Debug, Default)]
struct Partials {
    /// Non-overlapping, increasing in magnitude, no zeros; their exact sum is the represented value.
    partials: Vec<f64>,
}

impl Partials {
    fn add(&mut self, mut x: f64) {
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let p = self.partials[j];
            let (big, small) = if x.abs() < p.abs() { (p, x) } else { (x, p) };
            let hi = big + small;
            let lo = small - (hi - big);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        if x != 0.0 {
            self.partials.push(x);
        }
    }

    /// The correctly rounded sum, including `math.fsum`'s fix-up for half-way cases spread over partials.
    fn value(&self) -> f64 {
        let p = &self.partials;
        let Some(mut n) = p.len().checked_sub(1) else {
            return 0.0;
        };
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

/// `(a·b rounded, exact error)`, Dekker's algorithm: exact unless the product overflows or underflows, which
/// latencies, token counts and prices never approach. (`f64::mul_add` would be a software call without FMA.)
fn two_product(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    let err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    (p, err)
}

/// Veltkamp's split of `a` into two halves of at most 26 significant bits each.
fn split(a: f64) -> (f64, f64) {
    const FACTOR: f64 = 134_217_729.0; // 2^27 + 1
    let c = FACTOR * a;
    let hi = c - (c - a);
    (hi, a - hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum_of(values: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        values.iter().for_each(|&v| s.add(v));
        s.value()
    }

    fn fsum(values: &[f64]) -> f64 {
        let mut p = Partials::default();
        values.iter().for_each(|&v| p.add(v));
        p.value()
    }

    #[test]
    fn sums_that_naive_addition_gets_wrong() {
        // Python: math.fsum([0.1] * 10) == 1.0 ; sum([0.1] * 10) == 0.9999999999999999
        assert_eq!(sum_of(&[0.1; 10]), 1.0);
        // Python: math.fsum([1e100, 1.0, -1e100, 1e-100]) == 1.0
        assert_eq!(sum_of(&[1e100, 1.0, -1e100, 1e-100]), 1.0);
        // Python: math.fsum([1e-16, 1.0, 1e16]) == 1.0000000000000002e16 (a half-way case)
        assert_eq!(sum_of(&[1e-16, 1.0, 1e16]), 1.0000000000000002e16);
        // Python: math.fsum([-0.1] * 3) == -0.30000000000000004 ; math.fsum([5e-324, 5e-324]) == 1e-323
        assert_eq!(sum_of(&[-0.1; 3]), -0.30000000000000004);
        assert_eq!(sum_of(&[5e-324, 5e-324]), 1e-323);
        assert_eq!(sum_of(&[f64::MAX, -f64::MAX, 2.5]), 2.5);
        assert_eq!(sum_of(&[]), 0.0);
    }

    #[test]
    fn products_and_quotients_are_exact() {
        let mut s = ExactSum::default();
        s.add_product(0.1, 0.1);
        s.add(-0.010000000000000002); // 0.1 * 0.1 rounded; the exact error remains
                                      // Python: float(Fraction(0.1) * Fraction(0.1) - Fraction(0.1 * 0.1)) == -8.326672684688674e-19
        assert_eq!(s.value(), -8.326672684688674e-19);
        let mut s = ExactSum::default();
        for v in [1.0, 2.0, 2.0] {
            s.add(v);
        }
        // Python: statistics.mean([1.0, 2.0, 2.0]) == 1.6666666666666667
        assert_eq!(s.div(3.0), 1.6666666666666667);
        let mut scaled = ExactSum::default();
        scaled.add_scaled(&s, -0.5);
        assert_eq!(scaled.value(), -2.5);
    }

    #[test]
    fn many_additions_cross_carry_rounds() {
        // 1e6 · 0.1: Python: math.fsum([0.1] * 1000000) == 100000.0 ; and back to zero.
        let mut s = ExactSum::default();
        (0..1_000_000).for_each(|_| s.add(0.1));
        assert_eq!(s.value(), 100000.0);
        (0..1_000_000).for_each(|_| s.add(-0.1));
        assert_eq!(s.value(), 0.0);
    }

    /// Finite doubles of any exponent, subnormals included, small enough that 40 of them cannot overflow.
    fn any_double() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e9_f64..1e9,
            any::<u64>()
                .prop_map(f64::from_bits)
                .prop_filter("finite, below 1e300", |v| v.abs() < 1e300),
        ]
    }

    proptest! {
        /// The superaccumulator and Shewchuk's partials are independent exact algorithms: they must agree.
        #[test]
        fn agrees_with_shewchuk(values in prop::collection::vec(any_double(), 0..40)) {
            prop_assert_eq!(sum_of(&values).to_bits(), fsum(&values).to_bits());
        }

        #[test]
        fn the_order_of_additions_does_not_matter(
            values in prop::collection::vec(-1e9_f64..1e9, 0..50),
            split in 0_usize..50,
        ) {
            let split = split.min(values.len());
            let (a, b) = values.split_at(split);
            let mut left = ExactSum::default();
            a.iter().for_each(|&v| left.add(v));
            let mut right = ExactSum::default();
            b.iter().rev().for_each(|&v| right.add(v));
            left.add_sum(&right);
            prop_assert_eq!(left.value(), sum_of(&values));
        }
    }
}
