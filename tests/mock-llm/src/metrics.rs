//! `GET /metrics`: the server's load in Prometheus' text format (`text/plain; version=0.0.4`) under vLLM's
//! metric names, so a load tester that scrapes a vLLM server can be tested against the mock. Every sample is
//! labelled `model_name="mock-model"` ([`crate::MOCK_MODEL`]), as vLLM labels its served model.
//!
//! | metric                            | type    | value                                                          |
//! |-----------------------------------|---------|----------------------------------------------------------------|
//! | `vllm:num_requests_running`       | gauge   | model requests past the capacity queue whose response body has not ended |
//! | `vllm:num_requests_waiting`       | gauge   | requests queued behind a capacity (`MOCK_CAPACITY`, `x-mock-capacity`); 0 without one |
//! | `vllm:kv_cache_usage_perc`        | gauge   | running generations' input + output tokens so far over [`KV_CACHE_TOKENS`], at most 1 |
//! | `vllm:prompt_tokens_total`        | counter | input tokens of every generation started (not of requests refused before it) |
//! | `vllm:generation_tokens_total`    | counter | output tokens sent, counted as each is streamed (a whole body's when it is built) |
//! | `vllm:request_success_total`      | counter | answers that ended cleanly, by `finished_reason="stop"` or `"length"` |
//!
//! The gauges are exact: each is held by a guard ([`Gauge`], [`InFlight`]) that lets go when the response body
//! ends or is dropped, so a client that disconnects mid-stream (or while queued) is counted out at once.
//! `MOCK_METRICS=off` ([`crate::Features::metrics`]) removes the route: a scrape then gets the JSON 404.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokenmeter_protocol::wire::Finish;

/// The notional KV cache, in tokens, that `vllm:kv_cache_usage_perc` divides by.
pub const KV_CACHE_TOKENS: u64 = 100_000;

/// Prometheus' text exposition format, as vLLM (prometheus_client) sends it.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The server's counters, shared by every request.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    running: AtomicU64,
    waiting: AtomicU64,
    /// Input + output tokens so far of the generations in progress.
    kv_tokens: AtomicU64,
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    stopped: AtomicU64,
    cut_by_length: AtomicU64,
}

/// One request counted in a gauge (`running` or `waiting`) until dropped.
#[derive(Debug)]
#[must_use = "the request is counted only while the guard lives"]
pub struct Gauge {
    counters: Arc<Counters>,
    gauge: fn(&Counters) -> &AtomicU64,
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.gauge)(&self.counters).fetch_sub(1, Ordering::Relaxed);
    }
}

/// One generation in progress: its tokens are in the KV-cache gauge until dropped.
#[derive(Debug)]
#[must_use = "the generation's tokens are counted only while the guard lives"]
pub struct InFlight {
    counters: Arc<Counters>,
    /// What this generation added to `kv_tokens`.
    kv_tokens: u64,
}

impl InFlight {
    /// `n` output tokens sent.
    pub fn sent(&mut self, n: u64) {
        self.kv_tokens += n;
        self.counters.kv_tokens.fetch_add(n, Ordering::Relaxed);
        self.counters.generation_tokens.fetch_add(n, Ordering::Relaxed);
    }

    /// The answer ended cleanly, as `finish` says.
    pub fn succeeded(&self, finish: Finish) {
        let counter = match finish {
            Finish::Stop => &self.counters.stopped,
            Finish::Length => &self.counters.cut_by_length,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counters
            .kv_tokens
            .fetch_sub(self.kv_tokens, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a request as running until the guard is dropped.
    pub fn running(&self) -> Gauge {
        self.hold(|c| &c.running)
    }

    /// Counts a request as waiting for a place until the guard is dropped.
    pub fn waiting(&self) -> Gauge {
        self.hold(|c| &c.waiting)
    }

    fn hold(&self, gauge: fn(&Counters) -> &AtomicU64) -> Gauge {
        gauge(&self.0).fetch_add(1, Ordering::Relaxed);
        Gauge {
            counters: self.0.clone(),
            gauge,
        }
    }

    /// A generation with `input_tokens` starts: counts its prompt and puts it in the KV cache until dropped.
    pub fn start(&self, input_tokens: u64) -> InFlight {
        self.0.prompt_tokens.fetch_add(input_tokens, Ordering::Relaxed);
        self.0.kv_tokens.fetch_add(input_tokens, Ordering::Relaxed);
        InFlight {
            counters: self.0.clone(),
            kv_tokens: input_tokens,
        }
    }

    /// The exposition text: `# HELP`, `# TYPE` and the samples of each metric, labelled with `model`.
    pub fn render(&self, model: &str) -> String {
        let c = &*self.0;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
        let kv_usage = (read(&c.kv_tokens) / KV_CACHE_TOKENS as f64).min(1.0);
        let model = escape(model);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                // `{:?}` writes `2.0`, as prometheus_client does, and the shortest form that reads back exactly.
                let _ = writeln!(out, "{name}{{model_name=\"{model}\"{labels}}} {value:?}");
            }
        };
        metric(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            &[("", read(&c.running))],
        );
        metric(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            &[("", read(&c.waiting))],
        );
        metric(
            "vllm:kv_cache_usage_perc",
            "gauge",
            "KV-cache usage. 1 means 100 percent usage.",
            &[("", kv_usage)],
        );
        metric(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            &[("", read(&c.prompt_tokens))],
        );
        metric(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            &[("", read(&c.generation_tokens))],
        );
        metric(
            "vllm:request_success_total",
            "counter",
            "Count of successfully processed requests.",
            &[
                (",finished_reason=\"stop\"", read(&c.stopped)),
                (",finished_reason=\"length\"", read(&c.cut_by_length)),
            ],
        );
        out
    }
}

/// A label value as the text format needs it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, line_start: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(line_start))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
    }

    #[test]
    fn guards_count_while_they_live() {
        let metrics = Metrics::default();
        let running = metrics.running();
        let waiting = [metrics.waiting(), metrics.waiting()];
        let mut generation = metrics.start(30_000);
        generation.sent(20_000);
        let other = metrics.start(70_000);
        let text = metrics.render("m");
        assert_eq!(sample(&text, "vllm:num_requests_running{model_name=\"m\"}"), 1.0);
        assert_eq!(sample(&text, "vllm:num_requests_waiting{model_name=\"m\"}"), 2.0);
        assert_eq!(
            sample(&text, "vllm:kv_cache_usage_perc{model_name=\"m\"}"),
            1.0,
            "clamped"
        );
        generation.succeeded(Finish::Length);
        drop((running, waiting, other));
        let text = metrics.render("m");
        assert_eq!(sample(&text, "vllm:num_requests_running{model_name=\"m\"}"), 0.0);
        assert_eq!(sample(&text, "vllm:num_requests_waiting{model_name=\"m\"}"), 0.0);
        assert_eq!(sample(&text, "vllm:kv_cache_usage_perc{model_name=\"m\"}"), 0.5);
        drop(generation);
        let text = metrics.render("m");
        assert_eq!(sample(&text, "vllm:kv_cache_usage_perc{model_name=\"m\"}"), 0.0);
        assert_eq!(
            sample(&text, "vllm:prompt_tokens_total{model_name=\"m\"}"),
            100_000.0
        );
        assert_eq!(
            sample(&text, "vllm:generation_tokens_total{model_name=\"m\"}"),
            20_000.0
        );
        let success = "vllm:request_success_total{model_name=\"m\",finished_reason=";
        assert_eq!(sample(&text, &format!("{success}\"length\"}}")), 1.0);
        assert_eq!(sample(&text, &format!("{success}\"stop\"}}")), 0.0);
    }

    #[test]
    fn every_metric_has_help_and_type() {
        let text = Metrics::default().render("a \"b\"");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split('{').next().unwrap();
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(line.contains(r#"model_name="a \"b\"""#), "{line}");
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("# TYPE")).count(), 6);
    }
}
