//! Charts drawn with plotters on any `DrawingBackend`: natively to an SVG string (tested), in the page as inline
//! SVG. Every figure is a pure function of its data and a size, returning a [`Figure`].
//!
//! * Per run, from its bounded [`FigureData`] (`core::figure_data`, built record by record): histograms, CDFs, box plots,
//!   token scatters, TTFT over time, the latency heatmaps ([`run_figures`] draws them all).
//! * Live, from a [`tokenmeter_core::timeline::Timeline`] only: requests, output tokens and latency over time.
//! * Across runs, from `stats.json` maps: LLMeter's load-test figures ([`load_test_figures`]) and the
//!   side-by-side percentile bars ([`comparison`]).
//!
//! The arithmetic (ticks, bins, marks, thinning) lives in small modules apart from the drawing, and is tested.
//! Must not import `protocol`, `engine`, `browser` or `ui`, nor touch the DOM.

pub mod axis;
pub mod bins;
mod canvas;
pub mod comparison;
pub mod distributions;
pub mod heatmap;
pub mod load_test;
pub mod over_time;
pub mod run;
pub mod scatter;
pub mod server_metrics;
pub mod slo_search;
pub mod style;
pub mod summary;
pub mod thin;

#[cfg(test)]
mod tests;

pub use axis::ClientScale;
pub use load_test::load_test_figures;
pub use run::{figures_of_files, method_of, run_figures, BatchFigures, Latency};
pub use server_metrics::server_metrics_figures;
pub use tokenmeter_core::figure::Figure;
pub use tokenmeter_core::figure_data::FigureData;
