//! [`LiveRun`]: the sink a run in the page reports to. It keeps the exact statistics (and, unless low-memory, the
//! records), answers progress and stats snapshots while the run goes on, and produces the result files at the end.
//!
//! Plain Rust, so what the page shows and exports is tested natively.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::sink::{EngineEvent, EventSink, RunSummary};
use tokenmeter_core::cold_check::ColdCheck;
use tokenmeter_core::figure_data::{FigureData, FigureDataBuilder};
use tokenmeter_core::format::plan::plan_json;
use tokenmeter_core::format::{
    write_run, ClientFacts, ClockInfo, EndpointBlock, RunConfigFile, RunToWrite, ShardRecord,
};
use tokenmeter_core::page_health::PageHealth;
use tokenmeter_core::plan::{Arrival, RunPlan};
use tokenmeter_core::record::{Outcome, RequestRecord};
use tokenmeter_core::saved::StoredRecords;
use tokenmeter_core::stats::{
    RunInfo, RunningStats, Scalar, StatsConfig, StatsConfigError, StopReason, StopWhen,
};
use tokenmeter_core::time::Timestamp;
use tokenmeter_core::timeline::{RunClock, Timeline};

/// Where the run's requests go and what it is called: everything about a run except its results.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub run_name: String,
    pub run_description: Option<String>,
    pub endpoint: EndpointBlock,
    pub plan: RunPlan,
    /// The page's settings as text (`RawInput::to_json`), written to `run_config.json` so the run can be loaded
    /// and run again; `Null` when there are none.
    pub settings: serde_json::Value,
    /// What the page's clock could resolve, when measured in a page.
    pub clock: Option<ClockInfo>,
    /// The cold-start check sent before the run, if one was.
    pub check: Option<ColdCheck>,
    /// This run's place among shards, when it is one.
    pub shard: Option<ShardRecord>,
}

/// Counts for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub sent: u64,
    pub finished: u64,
    /// Failed for a reason other than cancellation.
    pub failed: u64,
    /// Cancelled by Stop (or at the deadline, when the plan says so).
    pub cancelled: u64,
    /// Aborted on purpose by the plan's cancellation injection.
    #[serde(default)]
    pub cancelled_by_design: u64,
    pub in_flight: u64,
    /// The run has ended (all requests finished).
    pub done: bool,
    pub interrupted: bool,
}

/// A run's live results.
pub struct LiveRun {
    identity: RunIdentity,
    stats: RunningStats,
    records: Vec<RequestRecord>,
    keep_records: bool,
    start_wall: DateTime<Utc>,
    progress: Progress,
    summary: Option<RunSummary>,
    /// What the page saw of itself (hidden tab, late timers), when the run goes on in a page.
    page: Option<PageHealth>,
    /// Completions, failures, tokens and latency per second, for the live over-time figures.
    timeline: Timeline,
    /// Records finished since the last [`LiveRun::take_tapped`], when a collector asked for them (the command
    /// merges every shard's records as they come); bounded by the time between two takes.
    tap: Option<Vec<RequestRecord>>,
    /// The records leave with the snapshots (the page's record store keeps them), so the files leave them out.
    records_leave: bool,
    saw_queue_time: bool,
    /// The run's figure data, built as records finish when they leave memory (bounded, so a run of any length
    /// has its figures without reading its records back).
    figures: Option<FigureDataBuilder>,
    /// What measured the run, once known.
    client: Option<ClientFacts>,
    /// Why the run stopped sending, once it has, with a sentence.
    stopped: Option<(StopReason, String)>,
    /// Keys the session adds once the run has ended (an SLO search step's level and verdict).
    notes: Vec<(Scalar, Value)>,
}

impl LiveRun {
    /// A run that starts at wall time `start_wall`.
    pub fn new(
        identity: RunIdentity,
        config: StatsConfig,
        start_wall: DateTime<Utc>,
    ) -> Result<Self, StatsConfigError> {
        let keep_records = !identity.plan.low_memory();
        // Low memory: per-chunk values go straight into a histogram, so nothing grows with chunks.
        let config = StatsConfig {
            chunk_value_budget: if keep_records {
                config.chunk_value_budget
            } else {
                Some(0)
            },
            ..config
        };
        Ok(LiveRun {
            identity,
            stats: RunningStats::new(config)?,
            records: Vec::new(),
            keep_records,
            start_wall,
            progress: Progress::default(),
            summary: None,
            page: None,
            timeline: Timeline::new(Timestamp::ZERO),
            tap: None,
            records_leave: false,
            saw_queue_time: false,
            figures: None,
            client: None,
            stopped: None,
            notes: Vec::new(),
        })
    }

    /// Keeps finished records for [`LiveRun::take_tapped`] from now on.
    pub fn tap_records(&mut self) {
        self.tap.get_or_insert_with(Vec::new);
    }

    /// Keeps no record from now on: each finished record is only tapped (the page's worker stores every
    /// snapshot's batch), so memory holds the statistics alone, and [`LiveRun::files`] leaves out
    /// `responses.jsonl` and `tokenmeter_responses.jsonl`, which the store holds.
    pub fn records_leave(&mut self) {
        self.tap_records();
        self.keep_records = false;
        self.records_leave = true;
        self.figures = Some(FigureDataBuilder::new(RunClock::Monotonic(Timestamp::ZERO)));
    }

    /// The run's figure data, when its records left memory (built as they finished); once.
    pub fn take_figure_data(&mut self) -> Option<FigureData> {
        let method = self.stats.config().method;
        self.figures.take().map(|builder| builder.finish(method))
    }

    /// The records finished since the last call (none unless tapped).
    pub fn take_tapped(&mut self) -> Vec<RequestRecord> {
        self.tap.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Records what measured the run (`run_config.json`'s `tokenmeter_client`).
    pub fn set_client(&mut self, client: ClientFacts) {
        self.client = Some(client);
    }

    /// Whether any request's wait inside the client was seen (Resource Timing).
    pub fn queue_time_seen(&self) -> bool {
        self.saw_queue_time
    }

    pub fn identity(&self) -> &RunIdentity {
        &self.identity
    }

    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Requests per second over the run so far (kept in low-memory mode too: it is bounded).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The records kept so far (none in low-memory mode).
    pub fn records(&self) -> &[RequestRecord] {
        &self.records
    }

    /// The result fields of `stats.json` / `summary.json`, as of wall time `now`.
    pub fn run_info(&self, now: DateTime<Utc>) -> RunInfo {
        let plan = &self.identity.plan;
        // LLMeter's `clients` and `n_requests` describe a closed loop; an open-loop run has neither.
        let clients = match plan.arrival() {
            Arrival::ClosedLoop { clients } => Some(u64::from(clients)),
            _ => None,
        };
        // Processed requests, as LLMeter counts them: warm-up and cancelled requests are not among them.
        let total = self.stats.requests();
        let n_requests = match (plan.stop().requests_per_client, clients) {
            // The configured count, unless the run stopped (or hit its deadline) before every client sent it.
            (Some(n), Some(c)) if total >= n * c => Some(n),
            (_, Some(c)) if c > 0 => Some(total / c),
            _ => None,
        };
        let (end_time, total_test_time) = match &self.summary {
            Some(s) => {
                // LLMeter leaves total_test_time null for an interrupted run.
                let secs = s.ended_at.secs_since(s.started_at);
                (Some(s.end_wall), (!s.interrupted).then_some(secs))
            }
            None => (Some(now), None),
        };
        let endpoint = &self.identity.endpoint;
        RunInfo {
            total_requests: Some(total),
            clients,
            n_requests,
            total_test_time,
            model_id: endpoint.model_id.clone(),
            output_path: None,
            endpoint_name: endpoint.endpoint_name.clone(),
            provider: endpoint.provider.clone(),
            run_name: Some(self.identity.run_name.clone()),
            run_description: self.identity.run_description.clone(),
            start_time: Some(self.start_wall),
            // From the statistics, which see every record, kept or not.
            first_request_time: self.stats.request_time_range().map(|r| r.0),
            last_request_time: self.stats.request_time_range().map(|r| r.1),
            end_time,
        }
    }

    /// The `stats.json` map as of wall time `now` (cheap enough to call several times a second).
    pub fn snapshot(&mut self, now: DateTime<Utc>) -> Map<String, Value> {
        let info = self.run_info(now);
        let mut stats = self.stats.snapshot(&info);
        if self.progress.interrupted {
            stats.insert("interrupted".into(), Value::Bool(true));
        }
        // Arrivals the client could not send: the run was overloaded on this side, and says so.
        if let Some(dropped) = self.summary.as_ref().map(|s| s.dropped).filter(|d| *d > 0) {
            stats.insert(Scalar::DroppedArrivals.as_str().into(), Value::from(dropped));
            stats.insert("tokenmeter_overloaded".into(), Value::Bool(true));
        }
        if let Some((reason, detail)) = &self.stopped {
            stats.insert(Scalar::StopReason.as_str().into(), reason.as_str().into());
            stats.insert(Scalar::StopDetail.as_str().into(), detail.as_str().into());
        }
        for (key, value) in &self.notes {
            stats.insert(key.as_str().into(), value.clone());
        }
        stats
    }

    /// The run's statistics, once its files are written (a race compares its targets' runs with them).
    pub fn into_stats(self) -> RunningStats {
        self.stats
    }

    /// Adds keys to the stats (and so to `stats.json`), replacing any given before.
    pub fn set_notes(&mut self, notes: Vec<(Scalar, Value)>) {
        self.notes = notes;
    }

    /// `Some(why)` once every rule of `rules` holds on the statistics so far, however the requests in flight
    /// turn out (never for no rules).
    pub fn stop_rules_met(&mut self, rules: &StopWhen) -> Option<String> {
        let in_flight = self.progress.in_flight as usize;
        rules.met(&mut self.stats, in_flight)
    }

    /// Records why the run stopped sending (the first reason given stands).
    pub fn set_stopped(&mut self, reason: StopReason, detail: String) {
        self.stopped.get_or_insert((reason, detail));
    }

    /// Why the run stopped sending, once it has.
    pub fn stopped(&self) -> Option<&(StopReason, String)> {
        self.stopped.as_ref()
    }

    /// What the page saw of itself so far, to update while the run goes on.
    pub fn page_health(&mut self) -> &mut PageHealth {
        self.page.get_or_insert_with(PageHealth::default)
    }

    /// Every result file, named, ready to download (without the per-request files when the records left).
    pub fn files(&mut self, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
        let info = self.run_info(now);
        let stats = self.snapshot(now);
        let mut config = RunConfigFile::new(self.identity.endpoint.clone(), plan_json(&self.identity.plan));
        config.clients = info.clients;
        config.n_requests = info.n_requests;
        config.run_duration = self.identity.plan.stop().duration.map(|d| d.as_secs_f64());
        config.run_name = info.run_name.clone();
        config.run_description = info.run_description.clone();
        config.low_memory = self.identity.plan.low_memory();
        config.tokenmeter_input = self.identity.settings.clone();
        config.tokenmeter_clock = self.identity.clock;
        config.tokenmeter_page = self.page;
        config.tokenmeter_check = self.identity.check.clone();
        config.tokenmeter_client = self.client.clone();
        config.tokenmeter_shard = self.identity.shard;
        let mut files = write_run(&RunToWrite {
            config: &config,
            info: &info,
            records: &self.records,
            stats: &stats,
        });
        if self.records_leave {
            files.retain(|(name, _)| !StoredRecords::holds(name));
        }
        files
    }
}

impl EventSink for LiveRun {
    fn on_event(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::RequestStarted(_) => {
                self.progress.sent += 1;
                self.progress.in_flight += 1;
            }
            EngineEvent::RequestFinished(finished) => {
                let record = finished.record;
                self.progress.finished += 1;
                self.progress.in_flight = self.progress.in_flight.saturating_sub(1);
                match record.outcome() {
                    Outcome::Cancelled => self.progress.cancelled += 1,
                    Outcome::CancelledByDesign => self.progress.cancelled_by_design += 1,
                    Outcome::Failed(_) => self.progress.failed += 1,
                    Outcome::Succeeded => {}
                }
                self.stats.observe(&record);
                self.timeline.observe(&record);
                if let Some(figures) = &mut self.figures {
                    figures.add(&record);
                }
                self.saw_queue_time |= record.queued.is_some();
                if let Some(tap) = &mut self.tap {
                    tap.push(record.clone());
                }
                if self.keep_records {
                    self.records.push(record);
                }
            }
            EngineEvent::RunEnded(summary) => {
                self.progress.done = true;
                self.progress.interrupted = summary.interrupted;
                self.summary = Some(summary);
            }
        }
    }
}
