//! [`run_figures`], the whole per-run set, drawn from a run's [`FigureData`] (bounded, built record by record in
//! `core::figure_data`: by the engine during a run, or here from stored batches or files).

use crate::distributions::{boxplots, cdf, histogram};
use crate::heatmap::{heatmap, HeatmapLatency, HEATMAP_BINS};
use crate::over_time::{latency_over_time, output_tokens_over_time, requests_over_time};
use crate::scatter::{ttft_by_turn, ttft_over_time, ttft_vs_input_tokens, ttlt_vs_output_tokens};
use crate::Figure;
use serde_json::{Map, Value};
use tokenmeter_core::checkpoint::read_batch;
use tokenmeter_core::figure_data::{FigureData, FigureDataBuilder, Values};
use tokenmeter_core::format::{stats_config_for, Files, FormatError, LoadedRun};
use tokenmeter_core::stats::{Metric, PercentileMethod};
use tokenmeter_core::time::Timestamp;
use tokenmeter_core::timeline::RunClock;

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

    /// This latency's values in `run`.
    pub fn values(self, run: &FigureData) -> &Values {
        match self {
            Latency::Ttft => &run.ttft,
            Latency::Ttlt => &run.ttlt,
            Latency::Tpot => &run.tpot,
            Latency::Itl => &run.itl,
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

/// The figure data of a run whose records are read batch by batch (`responses.jsonl` lines with their
/// `tokenmeter_responses.jsonl` lines), as the figures worker reads a run from the browser's record store when no
/// figure data was kept beside it.
pub struct BatchFigures {
    builder: FigureDataBuilder,
    method: PercentileMethod,
}

impl BatchFigures {
    /// Figures marked by the percentile method the run's `stats` name; a run measured by Tokenmeter, so its
    /// records share its clock from [`Timestamp::ZERO`].
    pub fn new(stats: &Map<String, Value>) -> BatchFigures {
        BatchFigures {
            builder: FigureDataBuilder::new(RunClock::Monotonic(Timestamp::ZERO)),
            method: method_of(stats),
        }
    }

    /// Adds one batch; a damaged batch is an error naming its line.
    pub fn add(&mut self, responses: &str, extras: &str) -> Result<(), FormatError> {
        for record in read_batch(responses, extras)? {
            self.builder.add(&record);
        }
        Ok(())
    }

    /// The run's figure data (bounded, whatever the run's length), to draw and to keep beside its records.
    pub fn finish(self) -> FigureData {
        self.builder.finish(self.method)
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
    Ok(run_figures(&FigureData::from_records(&records, method), size))
}

/// Every per-run figure, in reading order: histograms, CDFs, box plots, token scatters, over-time figures,
/// heatmaps. Each is `size` pixels.
pub fn run_figures(run: &FigureData, size: (u32, u32)) -> Vec<Figure> {
    let mut figures: Vec<Figure> = Latency::ALL.iter().map(|&l| histogram(run, l, size)).collect();
    figures.push(cdf(run, Latency::Ttft, size));
    figures.push(cdf(run, Latency::Ttlt, size));
    figures.push(boxplots(run, size));
    figures.push(ttft_vs_input_tokens(run, size));
    figures.push(ttlt_vs_output_tokens(run, size));
    if run.ttft_by_turn.count > 0 {
        figures.push(ttft_by_turn(run, size));
    }
    figures.push(ttft_over_time(run, size));
    figures.push(requests_over_time(&run.timeline, size));
    figures.push(output_tokens_over_time(&run.timeline, size));
    figures.push(latency_over_time(&run.timeline, size));
    figures.push(heatmap(run, HeatmapLatency::Ttft, HEATMAP_BINS, size));
    figures.push(heatmap(run, HeatmapLatency::Ttlt, HEATMAP_BINS, size));
    figures
}

/// The percentile method a run's `stats.json` names (its figures mark percentiles by it).
pub fn method_of(stats: &Map<String, Value>) -> PercentileMethod {
    stats_config_for(Some(stats), None).method
}
