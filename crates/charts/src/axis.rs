//! Axis arithmetic, apart from drawing so it can be tested: "nice" ranges and ticks (1, 2, 5 × 10ⁿ steps), the
//! time unit an axis reads in (ms or s, chosen from the data's range), tick labels, and the clients axis of a
//! load test (log₂ with a tick at each level, as LLMeter's `log_scale=True`, or linear).

/// An axis's range and the values its ticks sit at, each with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub lo: f64,
    pub hi: f64,
    pub values: Vec<f64>,
    pub labels: Vec<String>,
}

impl Ticks {
    /// The label of the tick at `v` (plotters asks by value), or none between ticks.
    pub fn label_at(&self, v: f64) -> String {
        let tolerance = (self.hi - self.lo).abs() * 1e-9;
        self.values
            .iter()
            .position(|t| (t - v).abs() <= tolerance)
            .map(|i| self.labels[i].clone())
            .unwrap_or_default()
    }
}

/// The smallest step of the form 1, 2 or 5 × 10ⁿ that is at least `raw` (positive and finite).
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 + 1e-9 {
        1.0
    } else if fraction <= 2.0 + 1e-9 {
        2.0
    } else if fraction <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A range covering `[lo, hi]` that starts and ends on a tick, with at most about `max_ticks` ticks a nice step
/// apart. An empty range (`lo == hi`) is widened around its value (never below 0 for a non-negative value).
pub fn nice_ticks(lo: f64, hi: f64, max_ticks: usize) -> Ticks {
    let (mut lo, mut hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if !(lo.is_finite() && hi.is_finite()) {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        let non_negative = lo >= 0.0;
        lo -= pad;
        hi += pad;
        if non_negative {
            lo = lo.max(0.0);
        }
    }
    let step = nice_step((hi - lo) / max_ticks.max(1) as f64);
    // The small tolerance keeps a value a rounding error past a tick from adding a whole step.
    let first = (lo / step + 1e-9).floor();
    let last = (hi / step - 1e-9).ceil();
    let values: Vec<f64> = (0..=((last - first) as i64).max(1))
        .map(|i| (first + i as f64) * step)
        .collect();
    let labels = values.iter().map(|&v| format_tick(v, step)).collect();
    Ticks {
        lo: values[0],
        hi: *values.last().unwrap_or(&hi),
        values,
        labels,
    }
}

/// Ticks from 0 to at least `hi`: the y axes of counts and rates.
pub fn ticks_from_zero(hi: f64, max_ticks: usize) -> Ticks {
    nice_ticks(0.0, hi.max(0.0), max_ticks)
}

/// A tick label with as many decimals as the step needs; thousands and millions shortened to `k` and `M` when
/// the step is that large.
pub fn format_tick(v: f64, step: f64) -> String {
    let (v, step, suffix) = if step >= 1e6 {
        (v / 1e6, step / 1e6, "M")
    } else if step >= 1e3 {
        (v / 1e3, step / 1e3, "k")
    } else {
        (v, step, "")
    };
    let decimals = (0..=6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize;
    // A tick at zero is plain 0 (not `-0.0`, not `0k`).
    if v.abs() < step * 1e-9 {
        return "0".to_owned();
    }
    format!("{v:.decimals$}{suffix}")
}

/// A value for a label (percentile marks, heatmap cells): three significant digits.
pub fn format_value(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = v.abs().log10().floor() as i32;
    let decimals = (2 - digits).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// The unit a duration axis reads in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Millis,
    Secs,
}

impl TimeUnit {
    /// Milliseconds while the largest value is under a second, seconds from there.
    pub fn for_max(max_secs: f64) -> TimeUnit {
        if max_secs < 1.0 {
            TimeUnit::Millis
        } else {
            TimeUnit::Secs
        }
    }

    /// What a value in seconds is multiplied by to read in this unit.
    pub fn per_second(self) -> f64 {
        match self {
            TimeUnit::Millis => 1e3,
            TimeUnit::Secs => 1.0,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Secs => "s",
        }
    }

    /// A duration in seconds, written in this unit with its symbol.
    pub fn format(self, secs: f64) -> String {
        format!("{} {}", format_value(secs * self.per_second()), self.symbol())
    }
}

/// How the clients axis of a load test is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientScale {
    /// log₂ of the client count, a tick at each level: concurrency sweeps double (1, 2, 4, …).
    #[default]
    Log,
    Linear,
}

impl ClientScale {
    /// Where `clients` sits on the axis.
    pub fn position(self, clients: u32) -> f64 {
        match self {
            ClientScale::Log => f64::from(clients.max(1)).log2(),
            ClientScale::Linear => f64::from(clients),
        }
    }

    /// The axis for these levels (in any order). Log: a tick at each level, thinned so that no two are closer
    /// than a twelfth of the axis, half a doubling of margin either side. Linear: nice ticks from 0.
    pub fn ticks(self, levels: &[u32]) -> Ticks {
        let mut levels: Vec<u32> = levels.iter().map(|&c| c.max(1)).collect();
        levels.sort_unstable();
        levels.dedup();
        match self {
            ClientScale::Linear => nice_ticks(0.0, f64::from(levels.last().copied().unwrap_or(1)), 6),
            ClientScale::Log => {
                let (Some(&min), Some(&max)) = (levels.first(), levels.last()) else {
                    return nice_ticks(0.0, 1.0, 1);
                };
                let (lo, hi) = (self.position(min) - 0.5, self.position(max) + 0.5);
                let gap = (hi - lo) / 12.0;
                let mut kept: Vec<u32> = Vec::new();
                for &c in &levels {
                    let close = kept
                        .last()
                        .is_some_and(|&k| self.position(c) - self.position(k) < gap);
                    // The largest level always keeps its tick; it replaces a close neighbour.
                    if close && c == max {
                        kept.pop();
                    }
                    if !close || c == max {
                        kept.push(c);
                    }
                }
                Ticks {
                    lo,
                    hi,
                    values: kept.iter().map(|&c| self.position(c)).collect(),
                    labels: kept.iter().map(|c| c.to_string()).collect(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_five() {
        let steps: Vec<f64> = [0.7, 1.0, 1.3, 2.0, 2.1, 4.9, 5.1, 0.013, 730.0]
            .iter()
            .map(|&r| nice_step(r))
            .collect();
        assert_eq!(steps, [1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 10.0, 0.02, 1000.0]);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn ranges_start_and_end_on_ticks() {
        let t = nice_ticks(0.13, 0.87, 5);
        assert_eq!(t.labels, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!((t.lo, t.hi), (0.0, 1.0));
        let t = nice_ticks(212.0, 1_890.0, 6);
        assert_eq!(t.labels, ["0", "500", "1000", "1500", "2000"]);
        // A value on a tick does not add a step.
        let t = nice_ticks(0.0, 10.0, 5);
        assert_eq!(t.values, [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn an_empty_range_is_widened_around_its_value() {
        let t = nice_ticks(250.0, 250.0, 5);
        assert!(t.lo < 250.0 && t.hi > 250.0, "{t:?}");
        let t = nice_ticks(0.0, 0.0, 5);
        assert_eq!((t.lo, t.hi), (0.0, 1.0));
        assert!(
            nice_ticks(0.01, 0.01, 5).lo >= 0.0,
            "a latency axis never goes negative"
        );
    }

    #[test]
    fn tick_labels_have_the_decimals_of_their_step() {
        assert_eq!(format_tick(0.25, 0.25), "0.25");
        assert_eq!(format_tick(0.5, 0.25), "0.50");
        assert_eq!(format_tick(3.0, 1.0), "3");
        assert_eq!(format_tick(0.00004, 0.00002), "0.00004");
        assert_eq!(format_tick(15_000.0, 5_000.0), "15k");
        assert_eq!(format_tick(2_500.0, 500.0), "2500");
        assert_eq!(format_tick(3_000_000.0, 1_000_000.0), "3M");
        assert_eq!(format_tick(-1e-17, 0.1), "0");
        assert_eq!(format_tick(0.0, 1_000.0), "0");
    }

    #[test]
    fn values_have_three_significant_digits() {
        assert_eq!(format_value(212.345), "212");
        assert_eq!(format_value(1.23456), "1.23");
        assert_eq!(format_value(0.0123456), "0.0123");
        assert_eq!(format_value(12_345.6), "12346");
    }

    #[test]
    fn the_time_unit_follows_the_largest_value() {
        assert_eq!(TimeUnit::for_max(0.35), TimeUnit::Millis);
        assert_eq!(TimeUnit::for_max(1.0), TimeUnit::Secs);
        assert_eq!(TimeUnit::Millis.format(0.2123), "212 ms");
        assert_eq!(TimeUnit::Secs.format(1.5), "1.50 s");
    }

    #[test]
    fn log_client_ticks_sit_at_the_levels() {
        let t = ClientScale::Log.ticks(&[8, 1, 2, 4, 16]);
        assert_eq!(t.labels, ["1", "2", "4", "8", "16"]);
        assert_eq!(t.values, [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!((t.lo, t.hi), (-0.5, 4.5));
        assert_eq!(t.label_at(3.0), "8");
        assert_eq!(t.label_at(2.5), "");
        // Crowded levels are thinned, keeping the first and the last.
        let levels: Vec<u32> = (1..=64).collect();
        let t = ClientScale::Log.ticks(&levels);
        assert_eq!(t.labels.first().map(String::as_str), Some("1"));
        assert_eq!(t.labels.last().map(String::as_str), Some("64"));
        assert!(t.labels.len() <= 13, "{:?}", t.labels);
        let gaps = t.values.windows(2).map(|w| w[1] - w[0]);
        assert!(
            gaps.clone().all(|g| g >= (t.hi - t.lo) / 12.0 - 1e-9),
            "{:?}",
            t.values
        );
        // One level still makes an axis.
        let t = ClientScale::Log.ticks(&[10]);
        assert!(t.lo < t.values[0] && t.values[0] < t.hi);
    }

    #[test]
    fn linear_client_ticks_are_nice_numbers_from_zero() {
        let t = ClientScale::Linear.ticks(&[1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(t.lo, 0.0);
        assert!(t.hi >= 64.0);
        assert_eq!(ClientScale::Linear.position(32), 32.0);
    }
}
