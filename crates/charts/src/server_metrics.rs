//! The server's own metrics on the run's timeline (issue 19): requests running and waiting, KV-cache usage,
//! prompt and generation tokens per second (from the counters), and any series the user named, each drawn
//! against seconds since the run started, the x axis of "TTFT over time".

use plotters::prelude::*;

use crate::axis::ticks_from_zero;
use crate::canvas::{legend, line_series, no_data, plot, render, Axis};
use crate::style;
use crate::Figure;
use tokenmeter_core::server_metrics::{ServerMetrics, KNOWN, SERVER_METRICS_FILE};

const COLOURS: [RGBColor; 4] = [
    style::PRIMARY,
    style::SECONDARY,
    style::TERTIARY,
    style::PRIMARY_MID,
];

/// The server-metrics figures of a run whose files keep `server_metrics.json`; none without.
pub fn server_metrics_figures(files: &[(String, String)], size: (u32, u32)) -> Vec<Figure> {
    files
        .iter()
        .find(|(name, _)| name == SERVER_METRICS_FILE)
        .and_then(|(_, text)| ServerMetrics::from_json(text).ok())
        .map_or_else(Vec::new, |m| figures(&m, size))
}

/// The figures of `m`: one per kind of quantity, so each has one unit.
pub fn figures(m: &ServerMetrics, size: (u32, u32)) -> Vec<Figure> {
    let get = |series: &str| m.series.get(series).cloned().unwrap_or_default();
    let named: Vec<(&str, Vec<(f64, f64)>)> = m
        .series
        .iter()
        .filter(|(name, _)| !KNOWN.iter().any(|(known, _)| known == name))
        .map(|(name, points)| (name.as_str(), points.clone()))
        .collect();
    let mut out = vec![
        lines(
            "server-requests",
            "Server: requests running and waiting",
            "requests",
            &[
                ("running", get("requests_running")),
                ("waiting", get("requests_waiting")),
            ],
            m,
            size,
        ),
        lines(
            "server-kv-cache",
            "Server: KV-cache usage",
            "KV cache used (%)",
            &[(
                "KV-cache usage",
                get("kv_cache_usage")
                    .into_iter()
                    .map(|(t, v)| (t, v * 100.0))
                    .collect(),
            )],
            m,
            size,
        ),
        lines(
            "server-tokens",
            "Server: tokens per second",
            "tokens per second",
            &[
                ("prompt tokens/s", m.rate("prompt_tokens_total")),
                ("generation tokens/s", m.rate("generation_tokens_total")),
            ],
            m,
            size,
        ),
    ];
    if !named.is_empty() {
        out.push(lines(
            "server-named",
            "Server: series named",
            "value",
            &named,
            m,
            size,
        ));
    }
    out
}

fn lines(
    id: &'static str,
    title: &str,
    y_desc: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    m: &ServerMetrics,
    size: (u32, u32),
) -> Figure {
    let svg = render(size, |area| {
        if series.iter().all(|(_, points)| points.is_empty()) {
            let why = m
                .first_failure
                .clone()
                .unwrap_or_else(|| "the server does not export these series".to_owned());
            return no_data(area, title, &why);
        }
        let points = series.iter().flat_map(|(_, p)| p);
        let end = points.clone().map(|p| p.0).fold(0.0, f64::max);
        let y_max = points.map(|p| p.1).fold(0.0, f64::max);
        let x = Axis::new(ticks_from_zero(end, 6), "seconds since the run started (scraped)");
        let y = Axis::new(ticks_from_zero(y_max * 1.3, 5), y_desc);
        let mut chart = plot(area, title, &x, &y)?;
        for ((label, points), colour) in series.iter().zip(COLOURS.iter().cycle()) {
            if !points.is_empty() {
                line_series(&mut chart, points.clone(), *colour, label)?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    });
    Figure::new(id, title.to_owned(), svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_series_gets_its_own_figure_and_a_refused_scrape_says_why() {
        let mut m = ServerMetrics::new("http://h/metrics");
        let page = |running: u32, tokens: u32| {
            format!(
                "vllm:num_requests_running {running}\nvllm:num_requests_waiting 1\nvllm:kv_cache_usage_perc 0.5\n\
                 vllm:prompt_tokens_total {tokens}\nvllm:generation_tokens_total 10\nmy_gauge 3\n"
            )
        };
        m.add_scrape(1.0, &page(2, 100), &["my_gauge".into()]);
        m.add_scrape(2.0, &page(4, 300), &["my_gauge".into()]);
        let files = vec![(SERVER_METRICS_FILE.to_owned(), m.to_json())];
        let drawn = server_metrics_figures(&files, (640, 400));
        let ids: Vec<&str> = drawn.iter().map(|f| f.id.as_ref()).collect();
        assert_eq!(
            ids,
            [
                "server-requests",
                "server-kv-cache",
                "server-tokens",
                "server-named"
            ]
        );
        assert!(drawn[0].svg.contains("running") && drawn[0].svg.contains("waiting"));
        assert!(drawn[2].svg.contains("prompt tokens/s"));
        assert!(server_metrics_figures(&[], (640, 400)).is_empty());

        let mut refused = ServerMetrics::new("http://h/metrics");
        refused.failed("HTTP 401");
        let drawn = figures(&refused, (640, 400));
        assert!(
            drawn[0].svg.contains("HTTP 401"),
            "the figure says why it is empty"
        );
    }
}
