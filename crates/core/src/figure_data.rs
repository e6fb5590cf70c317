//! [`FigureData`]: what a run's per-run figures are drawn from, built record by record in bounded memory, so the
//! engine can build it while a run of any length goes on and the figures never read a million records back.
//!
//! Small runs keep every value and point, so their figures are exact. Past [`EXACT_VALUES`] values a latency goes
//! into a high-resolution histogram (order statistics within [`RELATIVE_ERROR`], count and extremes exact); past
//! [`EXACT_POINTS`] points a scatter keeps one point per cell of a grid that coarsens as the run goes on (the
//! figure's own thinning to pixels keeps fewer still); past [`EXACT_CELLS`] token pairs the heatmaps' cells
//! merge neighbours. The tables' statistics never come from here: they stay exact in `RunningStats`.
//!
//! Distributions take what `stats.json`'s take: successful requests sent after the warm-up
//! ([`RequestRecord::in_distributions`]). Failed requests appear only as failures on the time axis; cancelled
//! ones (a stopped run) not at all. Every value is read through [`crate::metrics`], never re-derived.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::record::{Outcome, RequestRecord};
use crate::stats::{estimate, Binned, OrderStats, PercentileError, PercentileMethod};
use crate::time::Timestamp;
use crate::timeline::{RunClock, Timeline};

pub use crate::stats::BINNED_RELATIVE_ERROR as RELATIVE_ERROR;

/// Values of one latency kept exactly; past this, a histogram.
pub const EXACT_VALUES: usize = 16_384;
/// Points of one scatter kept exactly; past this, one per grid cell, and at most this many cells.
pub const EXACT_POINTS: usize = 16_384;
/// Distinct (input, output) token pairs kept exactly for the heatmaps; past this, neighbouring pairs merge.
pub const EXACT_CELLS: usize = 16_384;

/// The sorted values of one latency, in seconds: every value, or a histogram of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Values {
    Exact {
        sorted: Vec<f64>,
    },
    /// `(value, count)` ascending: each value is the middle of its bucket, within [`RELATIVE_ERROR`] of the values
    /// it counts; the first and last are the exact extremes.
    Binned {
        runs: Vec<(f64, u64)>,
        count: usize,
    },
}

impl Default for Values {
    fn default() -> Self {
        Values::Exact { sorted: Vec::new() }
    }
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Exact { sorted } => sorted.len(),
            Values::Binned { count, .. } => *count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the values are a histogram's (so a figure says so).
    pub fn is_binned(&self) -> bool {
        matches!(self, Values::Binned { .. })
    }

    pub fn first(&self) -> Option<f64> {
        match self {
            Values::Exact { sorted } => sorted.first().copied(),
            Values::Binned { runs, .. } => runs.first().map(|r| r.0),
        }
    }

    pub fn last(&self) -> Option<f64> {
        match self {
            Values::Exact { sorted } => sorted.last().copied(),
            Values::Binned { runs, .. } => runs.last().map(|r| r.0),
        }
    }

    /// `(value, how many)` ascending: each value once with its count.
    pub fn runs(&self) -> Box<dyn Iterator<Item = (f64, u64)> + '_> {
        match self {
            Values::Exact { sorted } => Box::new(sorted.iter().map(|&v| (v, 1))),
            Values::Binned { runs, .. } => Box::new(runs.iter().copied()),
        }
    }

    /// The `i`-th smallest value (0-based); the largest past the end.
    pub fn nth(&self, i: usize) -> f64 {
        match self {
            Values::Exact { sorted } => sorted[i.min(sorted.len().saturating_sub(1))],
            Values::Binned { runs, .. } => {
                let mut seen = 0u64;
                for &(v, n) in runs {
                    seen += n;
                    if seen > i as u64 {
                        return v;
                    }
                }
                runs.last().map_or(0.0, |r| r.0)
            }
        }
    }

    /// How many values are below `x` (with `inclusive`, at or below it).
    pub fn count_below(&self, x: f64, inclusive: bool) -> usize {
        match self {
            Values::Exact { sorted } => sorted.partition_point(|&v| v < x || (inclusive && v == x)),
            Values::Binned { runs, .. } => runs
                .iter()
                .take_while(|&&(v, _)| v < x || (inclusive && v == x))
                .map(|&(_, n)| n as usize)
                .sum(),
        }
    }

    /// The `p`-th percentile by `method`, as the stats core reads it off the values.
    pub fn percentile(&self, p: f64, method: PercentileMethod) -> Result<f64, PercentileError> {
        estimate(self, p, method).map(|e| e.value)
    }
}

impl OrderStats for Values {
    fn len(&self) -> usize {
        Values::len(self)
    }

    fn nth(&self, i: usize) -> f64 {
        Values::nth(self, i)
    }
}

/// A latency's values as they come: every value up to [`EXACT_VALUES`], then a histogram.
#[derive(Debug, Clone, Default)]
struct ValuesBuilder {
    exact: Vec<f64>,
    binned: Option<Binned>,
}

impl ValuesBuilder {
    fn push(&mut self, v: f64) {
        match &mut self.binned {
            Some(binned) => binned.push(v),
            None if self.exact.len() < EXACT_VALUES => self.exact.push(v),
            None => {
                let mut binned = Binned::default();
                std::mem::take(&mut self.exact)
                    .into_iter()
                    .chain([v])
                    .for_each(|v| binned.push(v));
                self.binned = Some(binned);
            }
        }
    }

    fn finish(mut self) -> Values {
        match self.binned {
            Some(binned) => Values::Binned {
                count: binned.len(),
                runs: binned.runs().collect(),
            },
            None => {
                self.exact.sort_unstable_by(f64::total_cmp);
                Values::Exact { sorted: self.exact }
            }
        }
    }
}

/// The points of one scatter: every one, or one per cell of a grid (the first that fell in it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Points {
    /// How many points were added (requests), whatever was kept.
    pub count: u64,
    pub kept: Vec<(f64, f64)>,
}

/// Points as they come: every point up to [`EXACT_POINTS`], then a grid whose cells double in size whenever
/// more than [`EXACT_POINTS`] are occupied. Values are non-negative (tokens, seconds), so cells start at 0.
#[derive(Debug, Clone, Default)]
struct PointsBuilder {
    count: u64,
    exact: Vec<(f64, f64)>,
    grid: Option<Grid>,
}

#[derive(Debug, Clone)]
struct Grid {
    cell: (f64, f64),
    cells: BTreeMap<(i64, i64), (f64, f64)>,
}

/// Cells across the larger extent when a scatter first switches to a grid: far finer than any figure's pixels.
const GRID_CELLS_ACROSS: f64 = 2_048.0;

impl Grid {
    fn key(&self, (x, y): (f64, f64)) -> (i64, i64) {
        ((x / self.cell.0).floor() as i64, (y / self.cell.1).floor() as i64)
    }

    fn insert(&mut self, point: (f64, f64)) {
        let key = self.key(point);
        self.cells.entry(key).or_insert(point);
        while self.cells.len() > EXACT_POINTS {
            self.cell = (self.cell.0 * 2.0, self.cell.1 * 2.0);
            let points: Vec<(f64, f64)> = std::mem::take(&mut self.cells).into_values().collect();
            for p in points {
                let key = self.key(p);
                self.cells.entry(key).or_insert(p);
            }
        }
    }
}

impl PointsBuilder {
    fn push(&mut self, point: (f64, f64)) {
        self.count += 1;
        if let Some(grid) = &mut self.grid {
            return grid.insert(point);
        }
        if self.exact.len() < EXACT_POINTS {
            return self.exact.push(point);
        }
        let max = self
            .exact
            .iter()
            .fold((0.0f64, 0.0f64), |m, p| (m.0.max(p.0), m.1.max(p.1)));
        let size = |extent: f64| {
            if extent > 0.0 {
                extent / GRID_CELLS_ACROSS
            } else {
                1e-6
            }
        };
        let mut grid = Grid {
            cell: (size(max.0), size(max.1)),
            cells: BTreeMap::new(),
        };
        std::mem::take(&mut self.exact)
            .into_iter()
            .chain([point])
            .for_each(|p| grid.insert(p));
        self.grid = Some(grid);
    }

    fn finish(self) -> Points {
        Points {
            count: self.count,
            kept: match self.grid {
                Some(grid) => grid.cells.into_values().collect(),
                None => self.exact,
            },
        }
    }
}

/// The successful requests of one (input tokens, output tokens) pair, for the heatmaps' cell averages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenCell {
    pub input: u64,
    pub output: u64,
    pub ttft_sum: f64,
    pub ttft_count: u64,
    pub ttlt_sum: f64,
    pub ttlt_count: u64,
}

/// Token cells as they come: one per distinct pair; past [`EXACT_CELLS`], pairs within a power-of-two block merge
/// (the first pair seen stands for the block).
#[derive(Debug, Clone, Default)]
struct CellsBuilder {
    shift: u32,
    cells: BTreeMap<(u64, u64), TokenCell>,
}

impl CellsBuilder {
    fn add(&mut self, input: u64, output: u64, ttft: Option<f64>, ttlt: Option<f64>) {
        let key = (input >> self.shift, output >> self.shift);
        let cell = self.cells.entry(key).or_insert(TokenCell {
            input,
            output,
            ..TokenCell::default()
        });
        if let Some(v) = ttft {
            cell.ttft_sum += v;
            cell.ttft_count += 1;
        }
        if let Some(v) = ttlt {
            cell.ttlt_sum += v;
            cell.ttlt_count += 1;
        }
        while self.cells.len() > EXACT_CELLS {
            self.shift += 1;
            let mut merged: BTreeMap<(u64, u64), TokenCell> = BTreeMap::new();
            for cell in std::mem::take(&mut self.cells).into_values() {
                let key = (cell.input >> self.shift, cell.output >> self.shift);
                let into = merged.entry(key).or_insert(TokenCell {
                    input: cell.input,
                    output: cell.output,
                    ..TokenCell::default()
                });
                into.ttft_sum += cell.ttft_sum;
                into.ttft_count += cell.ttft_count;
                into.ttlt_sum += cell.ttlt_sum;
                into.ttlt_count += cell.ttlt_count;
            }
            self.cells = merged;
        }
    }
}

/// What the per-run figures are drawn from. Latencies are seconds; bounded whatever the run's length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureData {
    pub ttft: Values,
    pub ttlt: Values,
    pub tpot: Values,
    /// Every gap between consecutive output chunks (one value per gap, not per request).
    pub itl: Values,
    /// (input tokens, TTFT) of each successful request that has both.
    pub ttft_by_input: Points,
    /// (output tokens, TTLT) of each successful request that has both.
    pub ttlt_by_output: Points,
    /// (seconds since the run's start when sent, TTFT) of each successful request with a TTFT.
    pub ttft_by_send: Points,
    /// (seconds since the run's start when sent, 0) of each failed request.
    pub failed_sends: Points,
    /// Multi-turn runs: (turn, from 1; TTFT) of each successful request, where prefix caching shows up.
    #[serde(default)]
    pub ttft_by_turn: Points,
    /// Successful requests with both token counts, by (input, output) pair.
    pub tokens: Vec<TokenCell>,
    pub timeline: Timeline,
    /// The run's percentile method, so marks match `stats.json`; not stored (one run's records serve both rules
    /// of an import), the reader sets it.
    #[serde(skip)]
    pub method: PercentileMethod,
}

impl FigureData {
    /// Reads a run's records once. `method` is the run's percentile method.
    pub fn from_records(records: &[RequestRecord], method: PercentileMethod) -> FigureData {
        let clock = RunClock::of(records).unwrap_or(RunClock::Monotonic(Timestamp::ZERO));
        let mut builder = FigureDataBuilder::new(clock);
        records.iter().for_each(|r| builder.add(r));
        builder.finish(method)
    }

    /// How many requests failed (warm-up and cancelled ones excluded).
    pub fn failed(&self) -> u64 {
        self.failed_sends.count
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("figure data serialises")
    }

    pub fn from_json(text: &str, method: PercentileMethod) -> Result<FigureData, serde_json::Error> {
        serde_json::from_str(text).map(|data: FigureData| FigureData { method, ..data })
    }
}

/// [`FigureData`] built record by record: by the engine while a run goes on, or from a run's stored batches. The
/// run's clock is given up front: a run measured by Tokenmeter starts at its own origin ([`Timestamp::ZERO`]).
#[derive(Debug, Clone)]
pub struct FigureDataBuilder {
    clock: RunClock,
    ttft: ValuesBuilder,
    ttlt: ValuesBuilder,
    tpot: ValuesBuilder,
    itl: ValuesBuilder,
    ttft_by_input: PointsBuilder,
    ttlt_by_output: PointsBuilder,
    ttft_by_send: PointsBuilder,
    failed_sends: PointsBuilder,
    ttft_by_turn: PointsBuilder,
    tokens: CellsBuilder,
    timeline: Timeline,
}

impl FigureDataBuilder {
    pub fn new(clock: RunClock) -> FigureDataBuilder {
        let start = match clock {
            RunClock::Monotonic(start) => start,
            RunClock::Wall(_) => Timestamp::ZERO,
        };
        FigureDataBuilder {
            clock,
            ttft: ValuesBuilder::default(),
            ttlt: ValuesBuilder::default(),
            tpot: ValuesBuilder::default(),
            itl: ValuesBuilder::default(),
            ttft_by_input: PointsBuilder::default(),
            ttlt_by_output: PointsBuilder::default(),
            ttft_by_send: PointsBuilder::default(),
            failed_sends: PointsBuilder::default(),
            ttft_by_turn: PointsBuilder::default(),
            tokens: CellsBuilder::default(),
            timeline: Timeline::new(start),
        }
    }

    /// Adds one finished record.
    pub fn add(&mut self, r: &RequestRecord) {
        self.timeline.observe_at(self.clock.ended_secs(r), r);
        let sent = self.clock.sent_secs(r);
        if r.in_distributions() {
            self.add_success(r, sent);
        } else if !r.warmup && matches!(r.outcome(), Outcome::Failed(_)) {
            self.failed_sends.push((sent, 0.0));
        }
    }

    fn add_success(&mut self, r: &RequestRecord, sent: f64) {
        let ttft = metrics::time_to_first_token(r);
        let ttlt = metrics::time_to_last_token(r);
        let (input, output) = (r.tokens.input, r.tokens.output);
        if let Some(v) = ttft {
            self.ttft.push(v);
            self.ttft_by_send.push((sent, v));
            if let Some(turn) = r.turn {
                self.ttft_by_turn.push((f64::from(turn.index) + 1.0, v));
            }
            if let Some(n) = input {
                self.ttft_by_input.push((n as f64, v));
            }
        }
        if let Some(v) = ttlt {
            self.ttlt.push(v);
            if let Some(n) = output {
                self.ttlt_by_output.push((n as f64, v));
            }
        }
        // `time_per_output_token` is `tpot_from` of exactly these parts.
        if let Some(v) = metrics::tpot_from(ttft, ttlt, output) {
            self.tpot.push(v);
        }
        metrics::inter_token_gaps(r).for_each(|gap| self.itl.push(gap));
        if let (Some(input), Some(output)) = (input, output) {
            self.tokens.add(input, output, ttft, ttlt);
        }
    }

    /// The run's figure data, distributions sorted; `method` marks percentiles as `stats.json` reads them.
    pub fn finish(self, method: PercentileMethod) -> FigureData {
        FigureData {
            ttft: self.ttft.finish(),
            ttlt: self.ttlt.finish(),
            tpot: self.tpot.finish(),
            itl: self.itl.finish(),
            ttft_by_input: self.ttft_by_input.finish(),
            ttlt_by_output: self.ttlt_by_output.finish(),
            ttft_by_send: self.ttft_by_send.finish(),
            failed_sends: self.failed_sends.finish(),
            ttft_by_turn: self.ttft_by_turn.finish(),
            tokens: self.tokens.cells.into_values().collect(),
            timeline: self.timeline,
            method,
        }
    }
}

#[cfg(test)]
mod tests;
