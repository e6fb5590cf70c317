//! The grouped live table: which `stats.json` keys are shown, under which group (Throughput, TTFT, TTLT, Tokens,
//! Errors — the groups of LLMeter's live display — plus the client's own health), with which label and unit. Pure data and formatting, so the UI
//! only renders rows.

use serde_json::{Map, Value};

use crate::core::record::ErrorKind;

/// How a value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds in the stats, shown in milliseconds.
    Millis,
    /// A rate or a plain number with one decimal.
    Decimal,
    /// A whole count.
    Count,
    /// A fraction shown as a percentage.
    Percent,
}

/// One shown statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: &'static str,
    /// The `stats.json` key (also the cell's `data-stat` attribute).
    pub key: String,
    /// The formatted value, `—` when the key is absent.
    pub value: String,
}

/// A titled group of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub title: &'static str,
    pub rows: Vec<Row>,
}

/// Latency distributions show these aggregations, in this order.
const DISTRIBUTION: [(&str, &str); 5] = [
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("average", "avg"),
    ("max", "max"),
];

/// The groups and their rows: `(title, [(label, key, unit)])`. Latency groups expand over [`DISTRIBUTION`].
/// A shown statistic: `(label, key, unit)`; an empty label expands the key over [`DISTRIBUTION`].
type Spec = (&'static str, &'static str, Unit);

const GROUPS: [(&str, &[Spec]); 7] = [
    (
        "Throughput",
        &[
            ("requests / min", "requests_per_minute", Unit::Decimal),
            ("output tokens / s", "output_tps", Unit::Decimal),
            (
                "input tokens / min",
                "average_input_tokens_per_minute",
                Unit::Decimal,
            ),
            (
                "good requests / min",
                "goodput_requests_per_minute",
                Unit::Decimal,
            ),
        ],
    ),
    ("TTFT (ms)", &[("", "time_to_first_token", Unit::Millis)]),
    ("TTLT (ms)", &[("", "time_to_last_token", Unit::Millis)]),
    ("TPOT (ms)", &[("", "time_per_output_token", Unit::Millis)]),
    (
        "Tokens",
        &[
            ("input total", "total_input_tokens", Unit::Count),
            ("output total", "total_output_tokens", Unit::Count),
            ("output / request p50", "num_tokens_output-p50", Unit::Decimal),
            ("input / request p50", "num_tokens_input-p50", Unit::Decimal),
        ],
    ),
    (
        "Client",
        &[
            ("schedule lag p50 (ms)", "schedule_lag-p50", Unit::Millis),
            ("schedule lag p99 (ms)", "schedule_lag-p99", Unit::Millis),
            ("browser queue p99 (ms)", "browser_queue_time-p99", Unit::Millis),
        ],
    ),
    (
        "Errors",
        &[
            ("requests", "total_requests", Unit::Count),
            ("failed", "failed_requests", Unit::Count),
            ("failure rate", "failed_requests_rate", Unit::Percent),
        ],
    ),
];

/// The live table for a stats map. Error kinds with a non-zero count are listed under Errors.
pub fn live_table(stats: &Map<String, Value>) -> Vec<Group> {
    let mut groups: Vec<Group> = GROUPS
        .iter()
        .map(|(title, rows)| Group {
            title,
            rows: rows
                .iter()
                .flat_map(|&(label, key, unit)| {
                    if label.is_empty() {
                        DISTRIBUTION
                            .iter()
                            .map(|&(agg, agg_label)| row(stats, agg_label, format!("{key}-{agg}"), unit))
                            .collect()
                    } else {
                        vec![row(stats, label, key.to_owned(), unit)]
                    }
                })
                .collect(),
        })
        .collect();
    let errors = groups.last_mut().expect("Errors is the last group");
    for kind in ErrorKind::ALL {
        let key = format!("failed_requests_{}", kind.as_str());
        if stats.get(&key).and_then(Value::as_f64).is_some_and(|n| n > 0.0) {
            errors.rows.push(row(stats, kind.as_str(), key, Unit::Count));
        }
    }
    groups
}

/// Schedule lag (p99) above which the client, not the server, limited the run.
const LAG_LIMIT_SECS: f64 = 0.1;
/// Browser queue time (p99) above which requests measurably waited inside the browser.
const QUEUE_LIMIT_SECS: f64 = 0.01;

/// Plain-language warnings when the numbers describe the client rather than the server: requests sent late
/// (the page could not keep up) or held in the browser's connection queue (latencies include that wait).
pub fn client_health(stats: &Map<String, Value>) -> Vec<String> {
    let get = |key: &str| stats.get(key).and_then(Value::as_f64);
    let mut warnings = Vec::new();
    if let Some(lag) = get("schedule_lag-p99").filter(|l| *l > LAG_LIMIT_SECS) {
        warnings.push(format!(
            "Client-limited: 1% of requests were sent more than {} ms after their scheduled time. The page could \
             not keep up; lower the load or close other tabs before trusting these numbers.",
            format_value(lag, Unit::Millis)
        ));
    }
    if let Some(queue) = get("browser_queue_time-p99").filter(|q| *q > QUEUE_LIMIT_SECS) {
        warnings.push(format!(
            "Browser-limited: 1% of requests waited more than {} ms in the browser's connection queue before \
             being sent; that wait is part of their TTFT and TTLT.",
            format_value(queue, Unit::Millis)
        ));
    }
    warnings
}

fn row(stats: &Map<String, Value>, label: &'static str, key: String, unit: Unit) -> Row {
    let value = stats
        .get(&key)
        .and_then(Value::as_f64)
        .map_or_else(|| "—".to_owned(), |v| format_value(v, unit));
    Row { label, key, value }
}

/// Formats `value` for display in `unit`.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Millis => format!("{:.1}", value * 1e3),
        Unit::Decimal => format!("{value:.1}"),
        Unit::Count => format!("{}", value.round() as i64),
        Unit::Percent => format!("{:.1}%", value * 100.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_health_speaks_up_only_past_its_limits() {
        let quiet = json!({"schedule_lag-p99": 0.05, "browser_queue_time-p99": 0.002});
        assert!(client_health(quiet.as_object().unwrap()).is_empty());
        assert!(client_health(&Map::new()).is_empty());
        let busy = json!({"schedule_lag-p99": 0.25, "browser_queue_time-p99": 0.3376});
        let warnings = client_health(busy.as_object().unwrap());
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].starts_with("Client-limited") && warnings[0].contains("250.0 ms"));
        assert!(warnings[1].starts_with("Browser-limited") && warnings[1].contains("337.6 ms"));
    }

    #[test]
    fn groups_rows_and_units() {
        let stats = json!({
            "total_requests": 20, "failed_requests": 2, "failed_requests_rate": 0.1,
            "failed_requests_throttled": 2, "failed_requests_timeout": 0,
            "time_to_first_token-p50": 0.2155, "requests_per_minute": 1161.16,
            "total_output_tokens": 400.0,
        });
        let table = live_table(stats.as_object().unwrap());
        let titles: Vec<_> = table.iter().map(|g| g.title).collect();
        assert_eq!(
            titles,
            [
                "Throughput",
                "TTFT (ms)",
                "TTLT (ms)",
                "TPOT (ms)",
                "Tokens",
                "Client",
                "Errors"
            ]
        );
        let find = |key: &str| {
            table
                .iter()
                .flat_map(|g| &g.rows)
                .find(|r| r.key == key)
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(find("time_to_first_token-p50"), "215.5");
        assert_eq!(find("time_to_first_token-p99"), "—");
        assert_eq!(find("requests_per_minute"), "1161.2");
        assert_eq!(find("total_output_tokens"), "400");
        assert_eq!(find("failed_requests_rate"), "10.0%");
        assert_eq!(find("failed_requests_throttled"), "2");
        assert!(table
            .iter()
            .flat_map(|g| &g.rows)
            .all(|r| r.key != "failed_requests_timeout"));
    }
}
