//! Side-by-side percentile bars of one latency metric (p50 / p90 / p99, in ms) for several runs.

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::{Map, Value};

use crate::canvas::render;
use crate::style;
use tokenmeter_core::stats::{Aggregate, Metric, StatKey};

/// The percentiles drawn for each run, with their legend labels and colours.
const PERCENTILES: [(Aggregate, &str, RGBColor); 3] = [
    (Aggregate::P50, "p50", style::PERCENTILE_COLOURS[0]),
    (Aggregate::P90, "p90", style::PERCENTILE_COLOURS[1]),
    (Aggregate::P99, "p99", style::PERCENTILE_COLOURS[2]),
];

/// One run to draw: its name and its `stats.json` map.
pub struct RunStats<'a> {
    pub name: &'a str,
    pub stats: &'a Map<String, Value>,
}

/// The value of `metric`'s aggregate `agg` in a stats map, in milliseconds.
fn millis(stats: &Map<String, Value>, metric: Metric, agg: Aggregate) -> Option<f64> {
    StatKey::Dist(metric, agg).get(stats).map(|s| s * 1e3)
}

/// Draws the p50/p90/p99 of `metric` (a latency, in seconds) for each run.
pub fn draw_percentiles<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    metric: Metric,
    runs: &[RunStats<'_>],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&WHITE)?;
    let top = runs
        .iter()
        .flat_map(|r| {
            PERCENTILES
                .iter()
                .filter_map(|&(p, _, _)| millis(r.stats, metric, p))
        })
        .fold(0.0_f64, f64::max);
    // Headroom above the tallest bar keeps the legend (upper right) clear of the bars.
    let y_max = if top > 0.0 { top * 1.4 } else { 1.0 };
    // Run i is centred on x = i, so the axis's whole-number key points fall under the runs' bars.
    let n = runs.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, style::title_style())
        .margin(style::MARGIN)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(runs.len().max(1))
        .x_label_formatter(&|x| {
            let i = x.round();
            let name = (i >= 0.0 && (x - i).abs() < 1e-6)
                .then(|| runs.get(i as usize))
                .flatten();
            name.map(|r| r.name.to_owned()).unwrap_or_default()
        })
        .y_desc("ms")
        .label_style(style::label_style())
        .axis_desc_style(style::label_style())
        .bold_line_style(style::GRID)
        .draw()?;
    let width = 0.8 / PERCENTILES.len() as f64;
    for (run_idx, run) in runs.iter().enumerate() {
        for (p_idx, &(p, _, colour)) in PERCENTILES.iter().enumerate() {
            if let Some(v) = millis(run.stats, metric, p) {
                let x0 = run_idx as f64 - 0.4 + p_idx as f64 * width;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, v)],
                    colour.filled(),
                )))?;
            }
        }
    }
    for (_, label, colour) in PERCENTILES {
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .label_font(style::label_style())
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw()?;
    area.present()
}

/// The chart as an SVG document.
pub fn percentiles_svg(title: &str, metric: Metric, runs: &[RunStats<'_>], size: (u32, u32)) -> String {
    render(size, |area| draw_percentiles(area, title, metric, runs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn one_bar_per_run_and_percentile_with_labels() {
        let a = stats(
            json!({"time_to_first_token-p50": 0.2, "time_to_first_token-p90": 0.3, "time_to_first_token-p99": 0.4}),
        );
        let b = stats(json!({"time_to_first_token-p50": 0.1, "time_to_first_token-p90": 0.15}));
        let svg = percentiles_svg(
            "TTFT",
            Metric::TimeToFirstToken,
            &[
                RunStats {
                    name: "run-1",
                    stats: &a,
                },
                RunStats {
                    name: "sample (imported)",
                    stats: &b,
                },
            ],
            (640, 320),
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("run-1") && svg.contains("sample (imported)") && svg.contains("TTFT"));
        // 5 bars (b has no p99) plus 3 legend swatches, in the three colours.
        let bars = ["#0F766E", "#5EAAA0", "#B4D8D3"]
            .iter()
            .map(|c| svg.matches(c).count())
            .sum::<usize>();
        assert_eq!(bars, 5 + 3, "{svg}");
    }

    #[test]
    fn every_run_is_labelled_under_its_bars() {
        let s = stats(json!({"time_to_last_token-p50": 1.0}));
        let names = ["a1", "b2", "c3", "d4", "e5"];
        let runs: Vec<_> = names.iter().map(|n| RunStats { name: n, stats: &s }).collect();
        let svg = percentiles_svg("TTLT", Metric::TimeToLastToken, &runs, (800, 300));
        for name in names {
            assert!(svg.contains(&format!("\n{name}\n")), "{name} missing");
        }
    }

    #[test]
    fn no_runs_or_no_values_still_draw_an_empty_chart() {
        assert!(percentiles_svg("TTLT", Metric::TimeToLastToken, &[], (300, 200)).contains("<svg"));
        let empty = Map::new();
        let svg = percentiles_svg(
            "TTLT",
            Metric::TimeToLastToken,
            &[RunStats {
                name: "x",
                stats: &empty,
            }],
            (300, 200),
        );
        assert!(svg.contains("<svg"));
    }
}
