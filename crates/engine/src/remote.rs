//! The messages between the page and the engine running in its Web Worker. Plain serde types, posted as JSON
//! strings both ways, so what crosses the boundary is tested natively.
//!
//! The page posts [`ToEngine::Start`] only after the worker said [`FromEngine::Ready`] (messages sent earlier are
//! lost); the worker answers with snapshots while each run goes on and the result files when it ends.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::live::Progress;
use crate::target::Credentials;
use tokenmeter_core::checkpoint::split_lines;
use tokenmeter_core::cold_check::ColdCheck;
use tokenmeter_core::figure::Figure;
use tokenmeter_core::figure_data::FigureData;
use tokenmeter_core::format::ClockInfo;
use tokenmeter_core::format::{write_extras, write_responses};
use tokenmeter_core::input::RawInput;
use tokenmeter_core::plan::Schedule;
use tokenmeter_core::progress::ProgressView;
use tokenmeter_core::record::RequestRecord;
use tokenmeter_core::saved::StoredRecords;
use tokenmeter_core::stats::RaceComparison;
use tokenmeter_core::timeline::Timeline;

/// Everything a Run press needs, serialisable: the settings as text (`RawInput::to_json`), the payloads the
/// form built (an edited body, an uploaded file, or one built from the prompt), and the credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Every setting as text: the engine validates them itself (`RawInput::parse`).
    pub settings: RawInput,
    pub payloads: Vec<Value>,
    /// Trace replay: when each payload is sent (the whole trace; the engine takes its shard's part).
    #[serde(default, skip_serializing_if = "Schedule::is_empty")]
    pub schedule: Schedule,
    /// `tokenizer=FILE.json`: that Hugging Face tokenizer's text (a page cannot read the file itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_json: Option<String>,
    pub credentials: Credentials,
    /// Seeds the cache buster and the simulated model.
    pub seed: u64,
    /// The name of a single run the user did not name (`run-N`).
    pub default_name: String,
    /// The engine's wall clock minus the command's that started it (ms), when a command measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<f64>,
    /// Each snapshot carries the records finished since the one before, so a command merges shards live.
    #[serde(default)]
    pub tap_records: bool,
    /// The engine keeps no record: each snapshot carries those finished since the last, and the page's worker
    /// stores them (`browser::checkpointer`), so memory stays flat however long the run.
    #[serde(default)]
    pub records_leave: bool,
    /// The most one run may put in the record store, in bytes: a test's stand-in for a full disk (the page reads
    /// it from a test hook, `__tokenmeter_store_cap_bytes`, that no link or setting can set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_cap_bytes: Option<u64>,
}

impl std::fmt::Debug for RunRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRequest")
            .field("settings", &self.settings)
            .field("payloads", &self.payloads.len())
            .field("credentials", &self.credentials)
            .field("seed", &self.seed)
            .finish()
    }
}

/// From the page to the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToEngine {
    Start {
        request: Box<RunRequest>,
    },
    /// No new requests; those in flight end as cancelled.
    Stop,
    /// The page's tab was hidden or shown (a worker cannot see it; hidden time flags the run).
    Visibility {
        hidden: bool,
    },
    /// The finished run whose records were checkpointed under `checkpoint` is stored: delete its heartbeat, and
    /// its batches too unless they are the stored run's records (`records_kept`).
    Forget {
        checkpoint: String,
        #[serde(default)]
        records_kept: bool,
    },
    /// Draw one run's figures (sent to a figures worker, never to the one measuring).
    Figures {
        job: Box<FigureJob>,
    },
}

/// The figures worker's one job: the per-run figures of one run. The page starts a second instance of the worker
/// for it, so drawing never competes with a run's measurements, and ends it after, so its memory goes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureJob {
    /// The run's records in the record store (`StoredRecords::key`); without, `files` hold them.
    pub records: Option<String>,
    /// The run's files (an imported run's `responses.jsonl` among them).
    pub files: Vec<(String, String)>,
    /// The run's statistics: they name the percentile method the figures mark.
    pub stats: Map<String, Value>,
    pub size: (u32, u32),
}

/// How a Run press ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every run ran to its end.
    Done,
    /// Stop was pressed: the current run has partial results.
    Stopped,
    /// Nothing ran: the settings, the target or the cold-start check failed.
    Failed,
}

/// What the page shows while a run goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub run_name: String,
    pub progress: Progress,
    pub bar: ProgressView,
    /// The `stats.json` map so far.
    pub stats: Map<String, Value>,
    /// Per second so far: what the live over-time figures draw (bounded, so cheap to send 5 times a second).
    pub timeline: Timeline,
    /// The worker's warning that it was disturbed (hidden tab, late timers), if any.
    pub client_warning: Option<String>,
    /// The worker's `performance.now()` when taken (convert with the worker's `timeOrigin`).
    pub taken_at_ms: f64,
    /// The records finished since the previous snapshot, when tapped (`Controls::tap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<RecordBatch>,
}

/// Finished records as `responses.jsonl` and `tokenmeter_responses.jsonl` text, line for line: the same shape
/// as a run folder, so a collector reads them with `read_responses`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordBatch {
    pub responses: String,
    pub extras: String,
}

impl RecordBatch {
    /// The batch's lines in parts of at most `lines` lines each, the two files line for line.
    pub fn split(&self, lines: usize) -> Vec<(String, String)> {
        split_lines(&self.responses, Some(&self.extras), lines)
    }

    /// The batch of `records`, or `None` when there are none.
    pub fn of(records: &[RequestRecord]) -> Option<RecordBatch> {
        (!records.is_empty()).then(|| RecordBatch {
            responses: write_responses(records),
            extras: write_extras(records),
        })
    }
}

/// A run that ended (finished or stopped): its result files and final statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedRun {
    pub run_name: String,
    pub files: Vec<(String, String)>,
    pub stats: Map<String, Value>,
    /// One line: counts and duration.
    pub summary: String,
    /// Where the page's engine checkpointed the run's records (`core::checkpoint::run_key`), to delete once the
    /// finished run is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Where the run's per-request lines are, when they left with the snapshots for the record store (set by
    /// the worker's store once every batch is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<StoredRecords>,
    /// The run's figure data, built as its records left memory: the worker keeps it beside them in the record
    /// store and never posts it to the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figure_data: Option<FigureData>,
}

/// From the worker to the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FromEngine {
    /// The worker is listening. Its `performance.timeOrigin` converts its times to the page's:
    /// `t_page = t_worker + (worker_time_origin − page_time_origin)`.
    Ready {
        time_origin_ms: f64,
        clock: ClockInfo,
        /// The worker's build identity; the page refuses an engine of another build (a stale cached worker).
        #[serde(default)]
        build: String,
    },
    /// The cold-start check's result (before the first run).
    Checked {
        check: ColdCheck,
    },
    RunStarted {
        run_name: String,
    },
    Snapshot {
        snapshot: Box<Snapshot>,
    },
    RunEnded {
        run: Box<FinishedRun>,
    },
    /// A race's comparisons, once every target's run has ended: each target against the first.
    RaceCompared {
        comparisons: Vec<RaceComparison>,
    },
    /// A figures job's result: the drawn figures, or why there are none.
    Figures {
        figures: Result<Vec<Figure>, String>,
    },
    /// The Run press is over; `message` says how.
    Ended {
        ending: Ending,
        message: String,
    },
}

impl ToEngine {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("messages serialise")
    }

    pub fn from_json(text: &str) -> Result<ToEngine, String> {
        serde_json::from_str(text).map_err(|e| format!("a message the engine cannot read: {e}"))
    }
}

impl FromEngine {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("messages serialise")
    }

    pub fn from_json(text: &str) -> Result<FromEngine, String> {
        serde_json::from_str(text).map_err(|e| format!("a message from the engine the page cannot read: {e}"))
    }
}
