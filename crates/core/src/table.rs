//! The grouped live table: which `stats.json` keys are shown, under which group (Throughput, TTFT, TTLT, Tokens,
//! Errors — the groups of LLMeter's live display — plus per-request streaming figures and the client's own health), with which label and unit. Pure data and formatting, so the UI
//! only renders rows.

use serde_json::{Map, Value};

use crate::record::ErrorKind;
use crate::stats::{min_samples, Aggregate, Metric, Scalar, StatKey, DEFAULT_CONFIDENCE};

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
    /// An amount of money (the prices' currency), to six decimals.
    Money,
}

/// One shown statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: &'static str,
    /// The `stats.json` key (also the cell's `data-stat` attribute).
    pub key: String,
    /// The formatted value, `—` when the key is absent.
    pub value: String,
    /// A percentile's confidence interval, where the stats carry one.
    pub interval: Option<IntervalCell>,
}

/// A percentile's confidence interval as shown beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalCell {
    /// `95% CI 118.2–130.4`, or `too few for a 95% CI (needs 368)`.
    pub text: String,
    /// The sample is too small for an interval: the percentile is shown as such, not as a trustworthy number.
    pub too_few: bool,
}

/// A group of the live table (LLMeter's live display's groups, plus Tokenmeter's streaming and client ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableGroup {
    Throughput,
    Ttft,
    Ttlt,
    Tpot,
    Tokens,
    Streaming,
    Client,
    Errors,
}

impl TableGroup {
    /// Every group, in the table's order.
    pub const ALL: [TableGroup; 8] = [
        TableGroup::Throughput,
        TableGroup::Ttft,
        TableGroup::Ttlt,
        TableGroup::Tpot,
        TableGroup::Tokens,
        TableGroup::Streaming,
        TableGroup::Client,
        TableGroup::Errors,
    ];

    /// The title the table shows (and the `table=` setting names, by its start).
    pub const fn title(self) -> &'static str {
        match self {
            TableGroup::Throughput => "Throughput",
            TableGroup::Ttft => "TTFT (ms)",
            TableGroup::Ttlt => "TTLT (ms)",
            TableGroup::Tpot => "TPOT (ms)",
            TableGroup::Tokens => "Tokens",
            TableGroup::Streaming => "Streaming",
            TableGroup::Client => "Client",
            TableGroup::Errors => "Errors",
        }
    }
}

/// A titled group of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub group: TableGroup,
    pub title: &'static str,
    pub rows: Vec<Row>,
}

/// Latency distributions show these aggregations, in this order, with these labels.
const DISTRIBUTION: [(Aggregate, &str); 5] = [
    (Aggregate::P50, "p50"),
    (Aggregate::P90, "p90"),
    (Aggregate::P99, "p99"),
    (Aggregate::Average, "avg"),
    (Aggregate::Max, "max"),
];

/// What a group shows.
enum Rows {
    /// A latency metric over [`DISTRIBUTION`].
    Distribution(Metric),
    /// Listed statistics: `(label, key, unit)`.
    Stats(&'static [(&'static str, StatKey, Unit)]),
}

const fn dist(metric: Metric, agg: Aggregate) -> StatKey {
    StatKey::Dist(metric, agg)
}

const fn scalar(s: Scalar) -> StatKey {
    StatKey::Scalar(s)
}

const GROUPS: [(TableGroup, Rows); 8] = [
    (
        TableGroup::Throughput,
        Rows::Stats(&[
            ("requests / min", scalar(Scalar::RequestsPerMinute), Unit::Decimal),
            ("output tokens / s", scalar(Scalar::OutputTps), Unit::Decimal),
            (
                "input tokens / min",
                scalar(Scalar::AverageInputTokensPerMinute),
                Unit::Decimal,
            ),
            (
                "good requests / min",
                scalar(Scalar::GoodputRequestsPerMinute),
                Unit::Decimal,
            ),
        ]),
    ),
    (TableGroup::Ttft, Rows::Distribution(Metric::TimeToFirstToken)),
    (TableGroup::Ttlt, Rows::Distribution(Metric::TimeToLastToken)),
    (TableGroup::Tpot, Rows::Distribution(Metric::TimePerOutputToken)),
    (
        TableGroup::Tokens,
        Rows::Stats(&[
            ("input total", scalar(Scalar::TotalInputTokens), Unit::Count),
            ("output total", scalar(Scalar::TotalOutputTokens), Unit::Count),
            (
                "output / request p50",
                dist(Metric::NumTokensOutput, Aggregate::P50),
                Unit::Decimal,
            ),
            (
                "input / request p50",
                dist(Metric::NumTokensInput, Aggregate::P50),
                Unit::Decimal,
            ),
        ]),
    ),
    (
        TableGroup::Streaming,
        Rows::Stats(&[
            (
                "visible TTFT p50 (ms)",
                dist(Metric::TimeToFirstVisibleToken, Aggregate::P50),
                Unit::Millis,
            ),
            (
                "inter-token p50 (ms)",
                dist(Metric::InterTokenLatency, Aggregate::P50),
                Unit::Millis,
            ),
            (
                "inter-token p99 (ms)",
                dist(Metric::InterTokenLatency, Aggregate::P99),
                Unit::Millis,
            ),
            (
                "tokens / s per request p50",
                dist(Metric::OutputTokensPerSecond, Aggregate::P50),
                Unit::Decimal,
            ),
        ]),
    ),
    (
        TableGroup::Client,
        Rows::Stats(&[
            (
                "schedule lag p50 (ms)",
                dist(Metric::ScheduleLag, Aggregate::P50),
                Unit::Millis,
            ),
            (
                "schedule lag p99 (ms)",
                dist(Metric::ScheduleLag, Aggregate::P99),
                Unit::Millis,
            ),
            (
                "browser queue p99 (ms)",
                dist(Metric::BrowserQueueTime, Aggregate::P99),
                Unit::Millis,
            ),
        ]),
    ),
    (
        TableGroup::Errors,
        Rows::Stats(&[
            ("requests", scalar(Scalar::TotalRequests), Unit::Count),
            ("failed", scalar(Scalar::FailedRequests), Unit::Count),
            ("failure rate", scalar(Scalar::FailedRequestsRate), Unit::Percent),
        ]),
    ),
];

/// Rows shown only when the run computes them (with an SLO, or prices): `(group, label, key, unit)`.
const OPTIONAL_ROWS: [(TableGroup, &str, StatKey, Unit); 4] = [
    (
        TableGroup::Client,
        "dropped arrivals (overloaded)",
        scalar(Scalar::DroppedArrivals),
        Unit::Count,
    ),
    (
        TableGroup::Throughput,
        "SLO attainment",
        scalar(Scalar::GoodputRate),
        Unit::Percent,
    ),
    (
        TableGroup::Throughput,
        "cost total",
        scalar(Scalar::CostTotal),
        Unit::Money,
    ),
    (
        TableGroup::Throughput,
        "cost / request avg",
        StatKey::Cost(Aggregate::Average),
        Unit::Money,
    ),
];

/// The statistics shown side by side when comparing runs: `(label, key, unit)`.
pub const COMPARED: [(&str, StatKey, Unit); 8] = [
    ("requests", scalar(Scalar::TotalRequests), Unit::Count),
    ("failure rate", scalar(Scalar::FailedRequestsRate), Unit::Percent),
    ("requests / min", scalar(Scalar::RequestsPerMinute), Unit::Decimal),
    ("output tokens / s", scalar(Scalar::OutputTps), Unit::Decimal),
    (
        "TTFT p50 (ms)",
        dist(Metric::TimeToFirstToken, Aggregate::P50),
        Unit::Millis,
    ),
    (
        "TTFT p90 (ms)",
        dist(Metric::TimeToFirstToken, Aggregate::P90),
        Unit::Millis,
    ),
    (
        "TTLT p50 (ms)",
        dist(Metric::TimeToLastToken, Aggregate::P50),
        Unit::Millis,
    ),
    (
        "TPOT p50 (ms)",
        dist(Metric::TimePerOutputToken, Aggregate::P50),
        Unit::Millis,
    ),
];

/// The live table for a stats map. Error kinds with a non-zero count are listed under Errors.
pub fn live_table(stats: &Map<String, Value>) -> Vec<Group> {
    let mut groups: Vec<Group> = GROUPS
        .iter()
        .map(|(group, rows)| Group {
            group: *group,
            title: group.title(),
            rows: match rows {
                Rows::Distribution(metric) => DISTRIBUTION
                    .iter()
                    .map(|&(agg, label)| row(stats, label, dist(*metric, agg), Unit::Millis))
                    .collect(),
                Rows::Stats(list) => list
                    .iter()
                    .map(|&(label, key, unit)| row(stats, label, key, unit))
                    .collect(),
            },
        })
        .collect();
    for &(group, label, key, unit) in &OPTIONAL_ROWS {
        if key.get(stats).is_some() {
            let group = groups
                .iter_mut()
                .find(|g| g.group == group)
                .expect("a known group");
            group.rows.push(row(stats, label, key, unit));
        }
    }
    // The provider's own latencies, beside the client's, when it reports them (Bedrock).
    for (group, metric, label) in [
        (TableGroup::Ttft, Metric::ServerFirstByteLatency, "server p50"),
        (TableGroup::Ttlt, Metric::ServerLatency, "server p50"),
    ] {
        let key = dist(metric, Aggregate::P50);
        if key.get(stats).is_some() {
            let group = groups
                .iter_mut()
                .find(|g| g.group == group)
                .expect("latency groups exist");
            group.rows.push(row(stats, label, key, Unit::Millis));
            group.rows.push(row(
                stats,
                "server p99",
                dist(metric, Aggregate::P99),
                Unit::Millis,
            ));
        }
    }
    let estimated = scalar(Scalar::EstimatedTokenRequests);
    if estimated.get(stats).is_some_and(|n| n > 0.0) {
        let tokens = groups
            .iter_mut()
            .find(|g| g.group == TableGroup::Tokens)
            .expect("a Tokens group");
        tokens.rows.push(row(
            stats,
            "estimated from words (requests)",
            estimated,
            Unit::Count,
        ));
    }
    let errors = groups.last_mut().expect("Errors is the last group");
    for kind in ErrorKind::ALL {
        let key = StatKey::Failures(kind);
        if key.get(stats).is_some_and(|n| n > 0.0) {
            errors.rows.push(row(stats, kind.as_str(), key, Unit::Count));
        }
    }
    groups
}

/// The live table's groups, in order.
pub fn all_groups() -> Vec<TableGroup> {
    TableGroup::ALL.to_vec()
}

/// Which groups to show, from a comma-separated list of group names (the start of a title is enough, any case:
/// `throughput, ttft, errors`), as LLMeter's `progress_bar_stats` chooses what its live display shows. Empty: all.
pub fn parse_group_filter(text: &str) -> Result<Vec<TableGroup>, String> {
    let wanted: Vec<String> = text
        .split(',')
        .map(|w| w.trim().to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(all_groups());
    }
    let titles: Vec<&str> = TableGroup::ALL.iter().map(|g| g.title()).collect();
    wanted
        .iter()
        .map(|w| {
            TableGroup::ALL
                .into_iter()
                .find(|g| g.title().to_ascii_lowercase().starts_with(w.as_str()))
                .ok_or_else(|| format!("no table group {w:?}: use some of {}", titles.join(", ")))
        })
        .collect()
}

/// The live table with only the groups in `shown` (from [`parse_group_filter`]).
pub fn live_table_of(stats: &Map<String, Value>, shown: &[TableGroup]) -> Vec<Group> {
    let mut groups = live_table(stats);
    groups.retain(|g| shown.contains(&g.group));
    groups
}

/// Every key the page can show: the live table's (failures of every kind included) and the comparison's.
pub fn shown_keys() -> Vec<StatKey> {
    let mut keys: Vec<StatKey> = GROUPS
        .iter()
        .flat_map(|(_, rows)| match rows {
            Rows::Distribution(metric) => DISTRIBUTION.iter().map(|&(agg, _)| dist(*metric, agg)).collect(),
            Rows::Stats(list) => list.iter().map(|&(_, key, _)| key).collect::<Vec<_>>(),
        })
        .collect();
    keys.extend(ErrorKind::ALL.map(StatKey::Failures));
    keys.push(scalar(Scalar::EstimatedTokenRequests));
    keys.extend(OPTIONAL_ROWS.iter().map(|&(_, _, key, _)| key));
    for metric in [Metric::ServerFirstByteLatency, Metric::ServerLatency] {
        keys.extend([Aggregate::P50, Aggregate::P99].map(|agg| dist(metric, agg)));
    }
    keys.extend(COMPARED.iter().map(|&(_, key, _)| key));
    keys
}

/// Schedule lag (p99) above which the client, not the server, limited the run.
const LAG_LIMIT_SECS: f64 = 0.1;
/// Browser queue time (p99) above which requests waited for a connection inside the browser. Waiting behind the
/// connection limit costs a whole response (hundreds of ms); below this is the browser's own cost of starting many
/// requests at once, which a bare `fetch()` pays too (measured: 27 ms p99 for 32 simultaneous HTTP/2 streams,
/// the same with and without Tokenmeter; `scripts/bench.sh`).
const QUEUE_LIMIT_SECS: f64 = 0.05;

/// Plain-language warnings when the numbers describe the client rather than the server — requests sent late (the
/// page could not keep up) or held in the browser's connection queue (latencies include that wait) — or when the
/// client's credentials or clock were refused.
pub fn client_health(stats: &Map<String, Value>) -> Vec<String> {
    let mut warnings = Vec::new();
    let lag_p99 = dist(Metric::ScheduleLag, Aggregate::P99).get(stats);
    if let Some(lag) = lag_p99.filter(|l| *l > LAG_LIMIT_SECS) {
        warnings.push(format!(
            "Client-limited: 1% of requests were sent more than {} ms after their scheduled time. The page could \
             not keep up; lower the load or close other tabs before trusting these numbers.",
            format_value(lag, Unit::Millis)
        ));
    }
    if StatKey::Failures(ErrorKind::Auth)
        .get(stats)
        .is_some_and(|n| n > 0.0)
    {
        warnings.push(
            "Authentication failed (HTTP 401 or 403): check the key. For AWS, a \"Signature expired\" or \"not yet \
             current\" message means this computer's clock is more than 5 minutes off: correct the clock (signing \
             uses it) and run again."
                .to_owned(),
        );
    }
    let queue_p99 = dist(Metric::BrowserQueueTime, Aggregate::P99).get(stats);
    if let Some(queue) = queue_p99.filter(|q| *q > QUEUE_LIMIT_SECS) {
        warnings.push(format!(
            "Browser-limited: 1% of requests waited more than {} ms in the browser's connection queue before \
             being sent; that wait is part of their TTFT and TTLT.",
            format_value(queue, Unit::Millis)
        ));
    }
    if let Some(dropped) = scalar(Scalar::DroppedArrivals).get(stats).filter(|n| *n > 0.0) {
        warnings.push(format!(
            "Overloaded: {dropped:.0} arrivals came due but were never sent (every slot busy, or late timers), so              the rate asked for was not the rate sent. Raise Max in flight, lower the rate, or split the run."
        ));
    }
    warnings
}

/// Notes on how figures were computed, when it differs from the exact default (binned per-chunk metrics).
pub fn precision_notes(stats: &Map<String, Value>) -> Vec<String> {
    scalar(Scalar::PerChunkRelativeError)
        .get(stats)
        .map(|error| {
            format!(
                "Inter-token latency percentiles come from a histogram, within {}% of the exact values, to keep \
                 this run's memory bounded; every other figure is exact.",
                error * 100.0
            )
        })
        .into_iter()
        .collect()
}

fn row(stats: &Map<String, Value>, label: &'static str, key: StatKey, unit: Unit) -> Row {
    Row {
        label,
        key: key.to_string(),
        value: format_cell(key.get(stats), unit),
        interval: interval_cell(stats, key, unit),
    }
}

/// The interval of a percentile key present in `stats`: its two ends when they are numbers, "too few" when the
/// stats say there is none (`null`); `None` for other keys and for stats written without intervals (LLMeter's).
pub fn interval_cell(stats: &Map<String, Value>, key: StatKey, unit: Unit) -> Option<IntervalCell> {
    let StatKey::Dist(metric, Aggregate::Percentile(p)) = key else {
        return None;
    };
    key.get(stats)?;
    let low = stats.get(&StatKey::Dist(metric, Aggregate::IntervalLow(p)).to_string())?;
    let high = stats.get(&StatKey::Dist(metric, Aggregate::IntervalHigh(p)).to_string())?;
    let level = scalar(Scalar::ConfidenceLevel)
        .get(stats)
        .unwrap_or(DEFAULT_CONFIDENCE);
    let percent = format!("{}%", (level * 1000.0).round() / 10.0);
    Some(match (low.as_f64(), high.as_f64()) {
        (Some(low), Some(high)) => IntervalCell {
            text: format!(
                "{percent} CI {}–{}",
                format_value(low, unit),
                format_value(high, unit)
            ),
            too_few: false,
        },
        _ => IntervalCell {
            text: match min_samples(p / 100.0, level) {
                Some(need) => format!("too few for a {percent} CI (needs {need})"),
                None => format!("no {percent} CI"),
            },
            too_few: true,
        },
    })
}

/// A cell's text: the value in `unit`, or `—` when there is none.
pub fn format_cell(value: Option<f64>, unit: Unit) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format_value(v, unit))
}

/// Formats `value` for display in `unit`.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Millis => format!("{:.1}", value * 1e3),
        Unit::Decimal => format!("{value:.1}"),
        Unit::Count => format!("{}", value.round() as i64),
        Unit::Percent => format!("{:.1}%", value * 100.0),
        Unit::Money => format!("{value:.6}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_shows_the_groups_asked_for() {
        assert_eq!(parse_group_filter("").unwrap(), all_groups());
        let shown = parse_group_filter(" ttft, Errors,throughput").unwrap();
        assert_eq!(
            shown,
            [TableGroup::Ttft, TableGroup::Errors, TableGroup::Throughput]
        );
        let titles: Vec<_> = live_table_of(&Map::new(), &shown)
            .iter()
            .map(|g| g.title)
            .collect();
        assert_eq!(titles, ["Throughput", "TTFT (ms)", "Errors"]);
        assert!(parse_group_filter("latency")
            .unwrap_err()
            .contains("Throughput, TTFT (ms)"));
    }

    #[test]
    fn client_health_speaks_up_only_past_its_limits() {
        let quiet = json!({"schedule_lag-p99": 0.05, "browser_queue_time-p99": 0.027});
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
                "Streaming",
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
