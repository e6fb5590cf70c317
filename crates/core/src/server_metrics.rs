//! The server's own metrics beside the client's: a Prometheus `/metrics` page (vLLM, SGLang, TGI) scraped about
//! once a second while a run goes on, kept as time series with the run (`server_metrics.json`) and drawn on its
//! timeline.
//!
//! The text exposition format is read here. The crates that parse it either reject the colons every vLLM and
//! SGLang metric name has (`prometheus-parse` 0.2.5 matches names with `\w+`, so `vllm:num_requests_running` is
//! not a sample to it) or bring a parser generator into the worker for a line format; a metric name, optional
//! `{labels}`, a value and an optional timestamp per line is all this needs. Samples of one name are summed over
//! their labels (several models or engines behind one page add up).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The file a run keeps its server metrics in.
pub const SERVER_METRICS_FILE: &str = "server_metrics.json";

/// The most series one run keeps (the known ones and those the user names).
pub const MAX_SERIES: usize = 32;

/// A series every known server exports under its own name: what it is called here, and its names in vLLM, SGLang
/// and TGI. The first name a scrape has is used.
pub const KNOWN: [(&str, &[&str]); 5] = [
    (
        "requests_running",
        &[
            "vllm:num_requests_running",
            "sglang:num_running_reqs",
            "tgi_batch_current_size",
        ],
    ),
    (
        "requests_waiting",
        &[
            "vllm:num_requests_waiting",
            "sglang:num_queue_reqs",
            "tgi_queue_size",
        ],
    ),
    (
        "kv_cache_usage",
        &[
            "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc",
            "sglang:token_usage",
        ],
    ),
    (
        "prompt_tokens_total",
        &[
            "vllm:prompt_tokens_total",
            "sglang:prompt_tokens_total",
            "tgi_request_input_length_sum",
        ],
    ),
    (
        "generation_tokens_total",
        &[
            "vllm:generation_tokens_total",
            "sglang:generation_tokens_total",
            "tgi_request_generated_tokens_sum",
        ],
    ),
];

/// One sample line: its metric name and value (labels are summed over, so not kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub value: f64,
}

/// The samples of an exposition text, in order. Comments, blank lines and lines that are not samples are
/// skipped; a value that is not a number (`NaN` is one) skips its line.
pub fn samples(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
        let name = &line[..name_end];
        let valid = name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() || !valid {
            return None;
        }
        let rest = &line[name_end..];
        // Labels may hold spaces and braces inside quotes: skip to the closing brace outside a string.
        let rest = match rest.strip_prefix('{') {
            Some(labels) => &labels[label_end(labels)? + 1..],
            None => rest,
        };
        let value = rest.split_whitespace().next()?;
        let value = match value {
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().ok()?,
        };
        Some(Sample { name, value })
    })
}

/// The index of the `}` that closes a label set, quotes and escapes respected.
fn label_end(labels: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// A run's server metrics: each series' (seconds since the run's start, value) points, and how scraping went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerMetrics {
    /// The page scraped (never with credentials: they are not put in URLs).
    pub url: String,
    /// By series: the known series under their names here, the others under their own.
    pub series: BTreeMap<String, Vec<(f64, f64)>>,
    pub scrapes: u64,
    pub failed_scrapes: u64,
    /// Why the first scrape that failed did (refused by CORS or auth, not found, not the format).
    pub first_failure: Option<String>,
}

impl ServerMetrics {
    pub fn new(url: &str) -> ServerMetrics {
        ServerMetrics {
            url: url.to_owned(),
            ..ServerMetrics::default()
        }
    }

    /// Adds one scrape taken `at` seconds after the run's start: the known series found, and the `named` ones.
    /// A page with none of them counts as a failed scrape (it is not a metrics page this understands).
    pub fn add_scrape(&mut self, at: f64, text: &str, named: &[String]) {
        let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
        for sample in samples(text).filter(|s| s.value.is_finite()) {
            *sums.entry(sample.name).or_default() += sample.value;
        }
        let mut found = 0;
        for (series, names) in KNOWN {
            if let Some(value) = names.iter().find_map(|n| sums.get(n)) {
                self.push(series, at, *value);
                found += 1;
            }
        }
        for name in named {
            if let Some(value) = sums.get(name.as_str()) {
                self.push(name, at, *value);
                found += 1;
            }
        }
        if found == 0 {
            self.failed(
                "the page has none of the known series (vLLM, SGLang, TGI) nor the ones named: is it a Prometheus \
                 /metrics page?",
            );
        } else {
            self.scrapes += 1;
        }
    }

    /// Records a scrape that failed, and why (the first reason is kept).
    pub fn failed(&mut self, why: &str) {
        self.failed_scrapes += 1;
        self.first_failure.get_or_insert_with(|| why.to_owned());
    }

    fn push(&mut self, series: &str, at: f64, value: f64) {
        if self.series.len() >= MAX_SERIES && !self.series.contains_key(series) {
            return;
        }
        self.series
            .entry(series.to_owned())
            .or_default()
            .push((at, value));
    }

    /// A counter as a rate per second between consecutive scrapes (a reset counts from 0).
    pub fn rate(&self, series: &str) -> Vec<(f64, f64)> {
        let Some(points) = self.series.get(series) else {
            return Vec::new();
        };
        points
            .windows(2)
            .filter(|w| w[1].0 > w[0].0)
            .map(|w| {
                let increase = if w[1].1 >= w[0].1 { w[1].1 - w[0].1 } else { w[1].1 };
                (w[1].0, increase / (w[1].0 - w[0].0))
            })
            .collect()
    }

    /// The note a run carries when scraping never worked, or partly failed.
    pub fn note(&self) -> Option<String> {
        let why = self.first_failure.as_deref()?;
        Some(if self.scrapes == 0 {
            format!(
                "The server metrics at {} could not be read ({why}); the run went on without them.",
                self.url
            )
        } else {
            format!(
                "{} of {} scrapes of {} failed (first: {why}).",
                self.failed_scrapes,
                self.scrapes + self.failed_scrapes,
                self.url
            )
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("server metrics serialise")
    }

    pub fn from_json(text: &str) -> Result<ServerMetrics, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VLLM: &str = r#"# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 2
vllm:kv_cache_usage_perc{model_name="odd } label \" here"} 0.25
vllm:prompt_tokens_total{model_name="m"} 1200 1700000000000
vllm:generation_tokens_total{model_name="m"} 300
process_open_fds 17
bad-name 1
vllm:weird NaN
no_value
"#;

    #[test]
    fn samples_are_read_with_colons_labels_and_timestamps() {
        let all: Vec<Sample<'_>> = samples(VLLM).collect();
        let names: Vec<&str> = all.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "vllm:num_requests_running",
                "vllm:num_requests_running",
                "vllm:num_requests_waiting",
                "vllm:kv_cache_usage_perc",
                "vllm:prompt_tokens_total",
                "vllm:generation_tokens_total",
                "process_open_fds",
                "vllm:weird",
            ]
        );
        assert_eq!(
            all[3].value, 0.25,
            "a brace inside a quoted label does not end the labels"
        );
        assert_eq!(all[4].value, 1200.0, "the timestamp is not the value");
        assert!(all[7].value.is_nan());
    }

    #[test]
    fn scrapes_become_series_summed_over_labels_and_counters_become_rates() {
        let mut m = ServerMetrics::new("http://h/metrics");
        m.add_scrape(1.0, VLLM, &["process_open_fds".to_owned()]);
        m.add_scrape(2.0, &VLLM.replace("} 1200 ", "} 1500 "), &[]);
        assert_eq!(m.series["requests_running"], [(1.0, 4.0), (2.0, 4.0)]);
        assert_eq!(m.series["kv_cache_usage"][0], (1.0, 0.25));
        assert_eq!(m.series["process_open_fds"], [(1.0, 17.0)]);
        assert_eq!(m.rate("prompt_tokens_total"), [(2.0, 300.0)]);
        assert_eq!((m.scrapes, m.failed_scrapes), (2, 0));
        assert_eq!(m.note(), None);
        let back = ServerMetrics::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn a_refused_or_foreign_page_leaves_a_clear_note() {
        let mut m = ServerMetrics::new("http://h/metrics");
        m.failed("HTTP 401");
        m.add_scrape(1.0, "<html>login</html>", &[]);
        assert_eq!(m.failed_scrapes, 2);
        let note = m.note().unwrap();
        assert!(note.contains("could not be read (HTTP 401)"), "{note}");
        m.add_scrape(2.0, VLLM, &[]);
        assert!(m.note().unwrap().starts_with("2 of 3 scrapes"), "{:?}", m.note());
    }
}
