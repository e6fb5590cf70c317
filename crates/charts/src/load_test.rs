//! LLMeter's LoadTest figures (`plot_load_test_results`): statistics of each concurrency level against the number
//! of clients, on a real numeric clients axis — log₂ with a tick at each level by default (LLMeter's
//! `log_scale=True` puts the x axis on a log scale), or linear. Inputs are `stats.json` maps, read through
//! [`StatKey`], so live, finished and imported (LLMeter) runs chart alike. A level missing a statistic leaves a
//! gap. The y axes stay linear (LLMeter also logs some of them; a linear rate axis reads better at 3–6 levels).

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::{Map, Value};

use crate::axis::{ticks_from_zero, ClientScale, TimeUnit};
use crate::canvas::{legend, line_series, no_data, plot, render, Axis, Drawn};
use crate::style;
use crate::Figure;
use tokenmeter_core::stats::{Aggregate, Metric, Scalar, StatKey};

/// One concurrency level: its client count and its `stats.json` map.
pub type Level<'a> = (u32, &'a Map<String, Value>);

/// How a figure's values are read and shown.
#[derive(Clone, Copy)]
enum YScale {
    /// As stored.
    Plain,
    /// A fraction shown in percent.
    Percent,
    /// Seconds shown in ms or s, by the largest value.
    Duration,
}

/// One figure of the set.
struct Spec {
    id: &'static str,
    title: &'static str,
    y_desc: &'static str,
    y: YScale,
    series: &'static [(&'static str, StatKey)],
}

const fn scalar(s: Scalar) -> StatKey {
    StatKey::Scalar(s)
}

const fn latency(m: Metric) -> [(&'static str, StatKey); 3] {
    [
        ("p50", StatKey::Dist(m, Aggregate::P50)),
        ("p90", StatKey::Dist(m, Aggregate::P90)),
        ("p99", StatKey::Dist(m, Aggregate::P99)),
    ]
}

const TTFT: [(&str, StatKey); 3] = latency(Metric::TimeToFirstToken);
const TTLT: [(&str, StatKey); 3] = latency(Metric::TimeToLastToken);

const SPECS: [Spec; 7] = [
    Spec {
        id: "requests-per-minute-by-clients",
        title: "Requests per minute by clients",
        y_desc: "requests per minute",
        y: YScale::Plain,
        series: &[("requests/min", scalar(Scalar::RequestsPerMinute))],
    },
    Spec {
        id: "output-tokens-per-second-by-clients",
        title: "Output tokens per second by clients",
        y_desc: "output tokens per second",
        y: YScale::Plain,
        series: &[("output tokens/s", scalar(Scalar::OutputTps))],
    },
    Spec {
        id: "ttft-by-clients",
        title: "TTFT by clients",
        y_desc: "TTFT",
        y: YScale::Duration,
        series: &TTFT,
    },
    Spec {
        id: "ttlt-by-clients",
        title: "TTLT by clients",
        y_desc: "TTLT",
        y: YScale::Duration,
        series: &TTLT,
    },
    Spec {
        id: "error-rate-by-clients",
        title: "Error rate by clients",
        y_desc: "failed requests (%)",
        y: YScale::Percent,
        series: &[("error rate", scalar(Scalar::FailedRequestsRate))],
    },
    Spec {
        id: "input-tokens-per-minute-by-clients",
        title: "Input tokens per minute by clients",
        y_desc: "input tokens per minute",
        y: YScale::Plain,
        series: &[("input tokens/min", scalar(Scalar::AverageInputTokensPerMinute))],
    },
    Spec {
        id: "output-tokens-per-minute-by-clients",
        title: "Output tokens per minute by clients",
        y_desc: "output tokens per minute",
        y: YScale::Plain,
        series: &[("output tokens/min", scalar(Scalar::AverageOutputTokensPerMinute))],
    },
];

/// Every load-test figure of `levels` (any order), each `size` pixels: requests/min, output tokens/s, TTFT and
/// TTLT p50/p90/p99, error rate, input and output tokens per minute.
pub fn load_test_figures(levels: &[Level<'_>], scale: ClientScale, size: (u32, u32)) -> Vec<Figure> {
    SPECS
        .iter()
        .map(|spec| figure(spec, levels, scale, size))
        .collect()
}

fn figure(spec: &Spec, levels: &[Level<'_>], scale: ClientScale, size: (u32, u32)) -> Figure {
    let mut sorted = levels.to_vec();
    sorted.sort_by_key(|&(clients, _)| clients);
    let raw: Vec<Vec<(u32, f64)>> = spec
        .series
        .iter()
        .map(|&(_, key)| {
            sorted
                .iter()
                .filter_map(|&(c, stats)| key.get(stats).filter(|v| v.is_finite()).map(|v| (c, v)))
                .collect()
        })
        .collect();
    let max = raw.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
    let (factor, y_desc) = match spec.y {
        YScale::Plain => (1.0, spec.y_desc.to_owned()),
        YScale::Percent => (100.0, spec.y_desc.to_owned()),
        YScale::Duration => {
            let unit = TimeUnit::for_max(max);
            (unit.per_second(), format!("{} ({})", spec.y_desc, unit.symbol()))
        }
    };
    let clients: Vec<u32> = sorted.iter().map(|l| l.0).collect();
    let svg = render(size, |area| {
        if raw.iter().all(Vec::is_empty) {
            return no_data(area, spec.title, "no level has this statistic");
        }
        let series: Vec<(&str, Vec<(f64, f64)>)> = spec
            .series
            .iter()
            .zip(&raw)
            .map(|(&(label, _), points)| {
                let points = points
                    .iter()
                    .map(|&(c, v)| (scale.position(c), v * factor))
                    .collect();
                (label, points)
            })
            .collect();
        draw(area, spec, &clients, scale, &y_desc, max * factor, &series)
    });
    Figure::new(spec.id, spec.title.to_owned(), svg)
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &Spec,
    clients: &[u32],
    scale: ClientScale,
    y_desc: &str,
    y_max: f64,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Drawn<DB> {
    let x_desc = match scale {
        ClientScale::Log => "clients (log scale)",
        ClientScale::Linear => "clients",
    };
    let x = Axis::new(scale.ticks(clients), x_desc);
    let y_ticks = ticks_from_zero(y_max * 1.1, 5);
    let mut chart = plot(area, spec.title, &x, &Axis::new(y_ticks, y_desc))?;
    let colours = if series.len() > 1 {
        style::PERCENTILE_COLOURS
    } else {
        style::SERIES
    };
    for ((label, points), colour) in series.iter().zip(colours) {
        line_series(&mut chart, points.clone(), colour, label)?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, style::filled(colour))))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn level(rpm: f64, ttft_p50: f64, error_rate: f64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(Scalar::RequestsPerMinute.as_str().to_owned(), json!(rpm));
        m.insert(
            StatKey::Dist(Metric::TimeToFirstToken, Aggregate::P50).to_string(),
            json!(ttft_p50),
        );
        m.insert(Scalar::FailedRequestsRate.as_str().to_owned(), json!(error_rate));
        m
    }

    #[test]
    fn one_figure_per_statistic_with_a_point_per_level() {
        let (a, b, c) = (
            level(60.0, 0.2, 0.0),
            level(110.0, 0.3, 0.01),
            level(180.0, 0.5, 0.1),
        );
        let levels = [(4, &c), (1, &a), (2, &b)];
        let figures = load_test_figures(&levels, ClientScale::Log, (640, 360));
        let ids: Vec<&str> = figures.iter().map(|f| f.id.as_ref()).collect();
        assert_eq!(ids, SPECS.map(|s| s.id));
        let rpm = &figures[0];
        for text in [
            "Requests per minute by clients",
            "clients (log scale)",
            "requests per minute",
        ] {
            assert!(rpm.svg.contains(text), "{text}");
        }
        // A tick label at each level, and a marker per level.
        for c in ["\n1\n", "\n2\n", "\n4\n"] {
            assert!(rpm.svg.contains(c), "{c}");
        }
        assert_eq!(rpm.svg.matches("<circle").count(), 3);
        let ttft = &figures[2];
        assert!(ttft.svg.contains("TTFT (ms)") && ttft.svg.contains("p50"));
        assert!(figures[4].svg.contains("failed requests (%)"));
        // No level reports output tokens per second: a "no data" figure, not an empty axis.
        assert!(figures[1].svg.contains("No data"));
    }

    #[test]
    fn linear_scale_and_a_single_level() {
        let a = level(60.0, 2.0, 0.0);
        let figures = load_test_figures(&[(8, &a)], ClientScale::Linear, (480, 320));
        assert!(figures[0].svg.contains("\nclients\n") || figures[0].svg.contains(">clients<"));
        assert!(figures[2].svg.contains("TTFT (s)"));
        assert!(load_test_figures(&[], ClientScale::Log, (480, 320))
            .iter()
            .all(|f| f.svg.contains("No data")));
    }
}
