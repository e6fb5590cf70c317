//! [`RunData`]: the values the per-run figures draw, read once from a run's records through
//! [`tokenmeter_core::metrics`] (never re-derived here), and [`run_figures`], the whole per-run set.
//!
//! Distributions take what `stats.json`'s take: successful requests sent after the warm-up
//! ([`RequestRecord::in_distributions`]). Failed requests appear only as failures on the time axis; cancelled
//! ones (a stopped run) not at all.

use crate::distributions::{boxplots, cdf, histogram};
use crate::heatmap::{heatmap, HeatmapLatency, HEATMAP_BINS};
use crate::over_time::{latency_over_time, output_tokens_over_time, requests_over_time};
use crate::scatter::{ttft_over_time, ttft_vs_input_tokens, ttlt_vs_output_tokens};
use crate::Figure;
use serde_json::{Map, Value};
use tokenmeter_core::checkpoint::read_batch;
use tokenmeter_core::format::{stats_config_for, Files, FormatError, LoadedRun};
use tokenmeter_core::metrics;
use tokenmeter_core::record::{Outcome, RequestRecord};
use tokenmeter_core::stats::{Metric, PercentileMethod};
use tokenmeter_core::time::Timestamp;
use tokenmeter_core::timeline::{RunClock, Timeline};

/// A latency the per-run figures draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    Ttft,
    Ttlt,
    Tpot,
    /// Every gap between consecutive output chunks (one value per gap, not per request).
    Itl,
}

impl Latency {
    pub const ALL: [Latency; 4] = [Latency::Ttft, Latency::Ttlt, Latency::Tpot, Latency::Itl];

    /// The short name used in titles and axis labels.
    pub const fn name(self) -> &'static str {
        match self {
            Latency::Ttft => "TTFT",
            Latency::Ttlt => "TTLT",
            Latency::Tpot => "TPOT",
            Latency::Itl => "Inter-token latency",
        }
    }

    /// The `stats.json` metric whose distribution this is.
    pub const fn metric(self) -> Metric {
        match self {
            Latency::Ttft => Metric::TimeToFirstToken,
            Latency::Ttlt => Metric::TimeToLastToken,
            Latency::Tpot => Metric::TimePerOutputToken,
            Latency::Itl => Metric::InterTokenLatency,
        }
    }

    /// What one value counts: a request, or (inter-token latency) a gap between chunks.
    pub(crate) const fn noun(self) -> &'static str {
        match self {
            Latency::Itl => "gaps",
            _ => "requests",
        }
    }

    /// Why a run may have no values of this latency, for the "no data" figure.
    pub(crate) const fn missing(self) -> &'static str {
        match self {
            Latency::Ttft | Latency::Ttlt => "no successful requests with this latency",
            Latency::Tpot => "no successful requests with more than one output token",
            Latency::Itl => "no successful streamed request with two or more chunks",
        }
    }
}

/// One successful request's token counts and latencies, for the heatmaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TokenLatency {
    pub input: u64,
    pub output: u64,
    pub ttft: Option<f64>,
    pub ttlt: Option<f64>,
}

/// What the per-run figures are drawn from. Latencies are seconds; distributions are sorted ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct RunData {
    pub(crate) ttft: Vec<f64>,
    pub(crate) ttlt: Vec<f64>,
    pub(crate) tpot: Vec<f64>,
    pub(crate) itl: Vec<f64>,
    /// (input tokens, TTFT) of each successful request that has both.
    pub(crate) ttft_by_input: Vec<(f64, f64)>,
    /// (output tokens, TTLT) of each successful request that has both.
    pub(crate) ttlt_by_output: Vec<(f64, f64)>,
    /// (seconds since the run's start when sent, TTFT) of each successful request with a TTFT.
    pub(crate) ttft_by_send: Vec<(f64, f64)>,
    /// When each failed request was sent, in seconds since the run's start.
    pub(crate) failed_sends: Vec<f64>,
    pub(crate) tokens: Vec<TokenLatency>,
    pub(crate) timeline: Timeline,
    pub(crate) method: PercentileMethod,
}

impl RunData {
    /// Reads a run's records once. `method` is the run's percentile method, so marks match `stats.json`.
    pub fn from_records(records: &[RequestRecord], method: PercentileMethod) -> RunData {
        let clock = RunClock::of(records).unwrap_or(RunClock::Monotonic(Timestamp::ZERO));
        let mut builder = RunDataBuilder::new(method, clock);
        records.iter().for_each(|r| builder.add(r));
        builder.finish()
    }

    fn add_success(&mut self, r: &RequestRecord, sent: f64) {
        let ttft = metrics::time_to_first_token(r);
        let ttlt = metrics::time_to_last_token(r);
        let (input, output) = (r.tokens.input, r.tokens.output);
        if let Some(v) = ttft {
            self.ttft.push(v);
            self.ttft_by_send.push((sent, v));
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
        self.itl.extend(metrics::inter_token_gaps(r));
        if let (Some(input), Some(output)) = (input, output) {
            self.tokens.push(TokenLatency {
                input,
                output,
                ttft,
                ttlt,
            });
        }
    }

    /// The sorted values of `latency`, in seconds.
    pub fn values(&self, latency: Latency) -> &[f64] {
        match latency {
            Latency::Ttft => &self.ttft,
            Latency::Ttlt => &self.ttlt,
            Latency::Tpot => &self.tpot,
            Latency::Itl => &self.itl,
        }
    }

    /// The run's requests over time.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// How many requests failed (warm-up and cancelled ones excluded).
    pub fn failed(&self) -> usize {
        self.failed_sends.len()
    }
}

/// [`RunData`] built record by record, so a run's records can be read batch by batch from storage (the figures
/// worker) and never held all at once. The run's clock is given up front: a run measured by Tokenmeter starts at
/// its own origin ([`Timestamp::ZERO`]).
pub struct RunDataBuilder {
    run: RunData,
    clock: RunClock,
}

impl RunDataBuilder {
    pub fn new(method: PercentileMethod, clock: RunClock) -> RunDataBuilder {
        let start = match clock {
            RunClock::Monotonic(start) => start,
            RunClock::Wall(_) => Timestamp::ZERO,
        };
        RunDataBuilder {
            run: RunData {
                ttft: Vec::new(),
                ttlt: Vec::new(),
                tpot: Vec::new(),
                itl: Vec::new(),
                ttft_by_input: Vec::new(),
                ttlt_by_output: Vec::new(),
                ttft_by_send: Vec::new(),
                failed_sends: Vec::new(),
                tokens: Vec::new(),
                timeline: Timeline::new(start),
                method,
            },
            clock,
        }
    }

    /// Adds one finished record.
    pub fn add(&mut self, r: &RequestRecord) {
        self.run.timeline.observe_at(self.clock.ended_secs(r), r);
        let sent = self.clock.sent_secs(r);
        if r.in_distributions() {
            self.run.add_success(r, sent);
        } else if !r.warmup && matches!(r.outcome(), Outcome::Failed(_)) {
            self.run.failed_sends.push(sent);
        }
    }

    /// The run's data, distributions sorted.
    pub fn finish(mut self) -> RunData {
        let run = &mut self.run;
        for values in [&mut run.ttft, &mut run.ttlt, &mut run.tpot, &mut run.itl] {
            values.sort_unstable_by(f64::total_cmp);
        }
        self.run
    }
}

/// The per-run figures of a run whose records are read batch by batch (`responses.jsonl` lines with their
/// `tokenmeter_responses.jsonl` lines), as the figures worker reads a run from the browser's record store.
pub struct BatchFigures {
    builder: RunDataBuilder,
}

impl BatchFigures {
    /// Figures marked by the percentile method the run's `stats` name; a run measured by Tokenmeter, so its
    /// records share its clock from [`Timestamp::ZERO`].
    pub fn new(stats: &Map<String, Value>) -> BatchFigures {
        let method = stats_config_for(Some(stats), None).method;
        BatchFigures {
            builder: RunDataBuilder::new(method, RunClock::Monotonic(Timestamp::ZERO)),
        }
    }

    /// Adds one batch; a damaged batch is an error naming its line.
    pub fn add(&mut self, responses: &str, extras: &str) -> Result<(), FormatError> {
        for record in read_batch(responses, extras)? {
            self.builder.add(&record);
        }
        Ok(())
    }

    /// Every per-run figure, each `size` pixels.
    pub fn finish(self, size: (u32, u32)) -> Vec<Figure> {
        run_figures(&self.builder.finish(), size)
    }
}

/// The per-run figures of a run kept as files (an imported folder): from its `responses.jsonl`, or why there are
/// none.
pub fn figures_of_files(
    files: &[(String, String)],
    stats: &Map<String, Value>,
    size: (u32, u32),
) -> Result<Vec<Figure>, String> {
    let config = stats_config_for(Some(stats), None);
    let method = config.method;
    let loaded = LoadedRun::from_files(&Files::from_named(files), config).map_err(|e| e.to_string())?;
    let records = loaded.records.filter(|r| !r.is_empty()).ok_or(
        "This run kept no per-request data (low memory, or no responses.jsonl), so only its table shows.",
    )?;
    Ok(run_figures(&RunData::from_records(&records, method), size))
}

/// Every per-run figure, in reading order: histograms, CDFs, box plots, token scatters, over-time figures,
/// heatmaps. Each is `size` pixels.
pub fn run_figures(run: &RunData, size: (u32, u32)) -> Vec<Figure> {
    let mut figures: Vec<Figure> = Latency::ALL.iter().map(|&l| histogram(run, l, size)).collect();
    figures.push(cdf(run, Latency::Ttft, size));
    figures.push(cdf(run, Latency::Ttlt, size));
    figures.push(boxplots(run, size));
    figures.push(ttft_vs_input_tokens(run, size));
    figures.push(ttlt_vs_output_tokens(run, size));
    figures.push(ttft_over_time(run, size));
    figures.push(requests_over_time(&run.timeline, size));
    figures.push(output_tokens_over_time(&run.timeline, size));
    figures.push(latency_over_time(&run.timeline, size));
    figures.push(heatmap(run, HeatmapLatency::Ttft, HEATMAP_BINS, size));
    figures.push(heatmap(run, HeatmapLatency::Ttlt, HEATMAP_BINS, size));
    figures
}
