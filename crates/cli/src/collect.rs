//! The collector: every shard's engine messages, whatever the engine (native threads or browser pages), folded
//! into one view of the run. Records arrive in each snapshot as they finish, so the live statistics are the
//! merged run's own, exact at every refresh (every record to one collector, as AIPerf does); each run's files
//! arrive when it ends and are merged exactly by `core::format::merge` at the end.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::native::clock::monotonic_now;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use tokenmeter_core::cold_check::ColdCheck;
use tokenmeter_core::format::read_responses;
use tokenmeter_core::input::RunInput;
use tokenmeter_core::plan::{Arrival, RunPlan};
use tokenmeter_core::progress::ProgressView;
use tokenmeter_core::stats::{RunInfo, RunningStats, StatsConfig};
use tokenmeter_engine::live::Progress;
use tokenmeter_engine::remote::{Ending, FromEngine};

/// What one shard has said so far.
#[derive(Debug)]
pub struct ShardState {
    pub progress: Progress,
    pub check: Option<ColdCheck>,
    /// How the shard ended, once it did.
    pub ended: Option<(Ending, String)>,
    pub warning: Option<String>,
    pub last_heard: Instant,
    /// The run the shard is on.
    pub current: Option<String>,
}

/// One run of the configuration (one, or one per sweep level), across shards.
pub struct CollectedRun {
    pub name: String,
    /// Each shard's result files, once it sent them.
    pub files: Vec<Option<Vec<(String, String)>>>,
    /// Every shard's records so far, merged exactly.
    stats: RunningStats,
    plan: RunPlan,
    started: DateTime<Utc>,
    started_at: Instant,
    /// Requests finished in each shard (cancelled ones included), for progress.
    finished: Vec<u64>,
}

/// The whole run as the command sees it.
pub struct Collector {
    pub shards: Vec<ShardState>,
    pub runs: Vec<CollectedRun>,
    plans: BTreeMap<String, RunPlan>,
    default_plan: RunPlan,
    stats_config: StatsConfig,
    /// Records that could not be read from a shard's batch (never expected: the engine wrote them).
    pub unreadable: Vec<String>,
}

impl Collector {
    /// A collector for `count` shards of the whole run `input` (its plans are the whole run's, not a shard's).
    pub fn new(input: &RunInput, count: usize) -> Collector {
        let now = monotonic_now();
        Collector {
            shards: (0..count)
                .map(|_| ShardState {
                    progress: Progress::default(),
                    check: None,
                    ended: None,
                    warning: None,
                    last_heard: now,
                    current: None,
                })
                .collect(),
            runs: Vec::new(),
            plans: input
                .runs
                .iter()
                .map(|r| (r.name.clone(), r.plan.clone()))
                .collect(),
            default_plan: input.runs[0].plan.clone(),
            stats_config: input.stats_config(),
            unreadable: Vec::new(),
        }
    }

    /// Takes one message of shard `index`'s.
    pub fn take(&mut self, index: usize, message: FromEngine, wall: DateTime<Utc>) {
        let count = self.shards.len();
        let shard = &mut self.shards[index];
        shard.last_heard = monotonic_now();
        match message {
            // A page's figures are not the command's business (its figures worker is never forwarded).
            // A race is compared on the merged runs, once every shard's records are in (`run::compare_race`).
            FromEngine::Ready { .. } | FromEngine::Figures { .. } | FromEngine::RaceCompared { .. } => {}
            FromEngine::Checked { check } => shard.check = Some(check),
            FromEngine::RunStarted { run_name } => {
                shard.current = Some(run_name.clone());
                shard.progress = Progress::default();
                self.run_mut(&run_name, count, wall);
            }
            FromEngine::Snapshot { snapshot } => {
                shard.progress = snapshot.progress;
                shard.warning = snapshot.client_warning.clone();
                let finished = snapshot.progress.finished;
                let run = self.run_mut(&snapshot.run_name, count, wall);
                run.finished[index] = finished;
                if let Some(batch) = snapshot.records {
                    match read_responses(&batch.responses, Some(&batch.extras)) {
                        Ok(parsed) => parsed.records.iter().for_each(|r| run.stats.observe(r)),
                        Err(e) => self.unreadable.push(format!("shard {index}: {e}")),
                    }
                }
            }
            FromEngine::RunEnded { run } => {
                let collected = self.run_mut(&run.run_name, count, wall);
                collected.files[index] = Some(run.files);
            }
            FromEngine::Ended { ending, message } => shard.ended = Some((ending, message)),
        }
    }

    fn run_mut(&mut self, name: &str, count: usize, wall: DateTime<Utc>) -> &mut CollectedRun {
        if let Some(at) = self.runs.iter().position(|r| r.name == name) {
            return &mut self.runs[at];
        }
        let plan = self
            .plans
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.default_plan.clone());
        self.runs.push(CollectedRun {
            name: name.to_owned(),
            files: vec![None; count],
            stats: RunningStats::new(self.stats_config.clone()).expect("the session accepted these settings"),
            plan,
            started: wall,
            started_at: monotonic_now(),
            finished: vec![0; count],
        });
        self.runs.last_mut().expect("just pushed")
    }

    /// Whether every shard has ended.
    pub fn all_ended(&self) -> bool {
        self.shards.iter().all(|s| s.ended.is_some())
    }

    /// The run going on now (the last one started).
    pub fn current(&mut self) -> Option<&mut CollectedRun> {
        self.runs.last_mut()
    }

    /// Progress summed over shards.
    pub fn progress(&self) -> Progress {
        let mut sum = self.shards.iter().fold(Progress::default(), |mut sum, s| {
            let p = s.progress;
            sum.sent += p.sent;
            sum.finished += p.finished;
            sum.failed += p.failed;
            sum.cancelled += p.cancelled;
            sum.in_flight += p.in_flight;
            sum.interrupted |= p.interrupted;
            sum
        });
        sum.done = self.shards.iter().all(|s| s.progress.done);
        sum
    }
}

impl CollectedRun {
    /// The merged run's `stats.json` so far, exact over every record received.
    pub fn live_stats(&mut self, now: DateTime<Utc>) -> Map<String, Value> {
        let clients = match self.plan.arrival() {
            Arrival::ClosedLoop { clients } => Some(u64::from(clients)),
            _ => None,
        };
        let info = RunInfo {
            total_requests: Some(self.stats.requests()),
            clients,
            run_name: Some(self.name.clone()),
            start_time: Some(self.started),
            end_time: Some(now),
            ..RunInfo::default()
        };
        self.stats.snapshot(&info)
    }

    /// Share done and time left of the whole run (every shard's finished requests against the whole plan).
    pub fn progress_view(&self) -> ProgressView {
        let finished = self.finished.iter().sum();
        ProgressView::of(&self.plan, finished, self.started_at.elapsed().as_secs_f64())
    }
}
