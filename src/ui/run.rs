//! Starting, watching and stopping a run: the page's side of the engine, which runs in its own Web Worker
//! ([`EngineWorker`]). The page validates the form, posts a [`RunRequest`], and copies each snapshot the worker
//! sends (5 a second) into signals; it never measures anything itself, so rendering cannot delay a timestamp.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};

use crate::browser::clock::PerformanceClock;
use crate::browser::command::CommandHook;
use crate::browser::engine_worker::EngineWorker;
use crate::browser::local_network;
use crate::browser::store::ask_persistent_storage;
use crate::core::address_space::address_space;
use crate::core::budget::{human_bytes, MemoryEstimate, RecordPlace, WARN_BYTES, WARN_STORED_BYTES};
use crate::core::cold_check::ColdCheck;
use crate::core::fan_out::connection_warning;
use crate::core::format::{ClockInfo, RunFile};
use crate::core::input::RaceTarget;
use crate::core::input::RunInput;
use crate::core::payload::write_payload_jsonl;
use crate::core::progress::ProgressView;
use crate::core::saved::SavedRun;
use crate::core::stats::{race_json, RaceComparison, StatsConfig, RACE_FILE};
use crate::core::table::{
    all_groups, client_health, live_table, live_table_of, precision_notes, Group, TableGroup,
};
use crate::core::timeline::Timeline;
use crate::engine::live::{LiveRun, Progress, RunIdentity};
use crate::engine::remote::{Ending, FromEngine, RunRequest, Snapshot, ToEngine};
use crate::engine::target::Target;
use crate::engine::Clock;
use crate::ui::form::RunForm;
use crate::ui::library::Library;

/// How often the live over-time figures are redrawn while a run goes on.
const LIVE_FIGURES_EVERY_MS: f64 = 1000.0;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Running,
    Stopping,
    Done,
    Stopped,
    Invalid,
}

impl Phase {
    /// The coarse run state scripts wait on (`data-run-state`): idle, running, done (finished or stopped) or
    /// failed (the settings, the target or the endpoint check were refused).
    pub(crate) fn run_state(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Running | Phase::Stopping => "running",
            Phase::Done | Phase::Stopped => "done",
            Phase::Invalid => "failed",
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Done => "done",
            Phase::Stopped => "stopped",
            Phase::Invalid => "invalid",
        }
    }
}

/// What the form would send (the engine's [`Target::for_input`], with the form's uploads and image).
fn target_for(input: &RunInput, form: RunForm, seed: u64) -> Result<Target, String> {
    let prompts = form.file_prompts(input, seed)?;
    Target::for_input(
        input,
        form.uploaded_payloads(),
        prompts.as_deref(),
        form.image(),
        &form.credentials(),
        seed,
    )
    .map_err(|e| format!("The target cannot be used as set: {e}."))
}

/// The page's run state. Copyable handle: signals plus local (non-`Send`) storage for the engine worker.
#[derive(Clone, Copy)]
pub(crate) struct RunController {
    pub(crate) phase: RwSignal<Phase>,
    pub(crate) message: RwSignal<String>,
    pub(crate) progress: RwSignal<Progress>,
    /// Share done, time elapsed and left, of the current run.
    pub(crate) bar: RwSignal<Option<ProgressView>>,
    /// How old the last snapshot was when the page got it, in ms (worker time converted through both time
    /// origins): the page's own delay, never part of a measurement.
    pub(crate) snapshot_age_ms: RwSignal<Option<f64>>,
    pub(crate) table: RwSignal<Vec<Group>>,
    /// Warnings that the client, not the server, shaped the numbers.
    pub(crate) health: RwSignal<Vec<String>>,
    /// Notes on how figures were computed (binned percentiles).
    pub(crate) notes: RwSignal<Vec<String>>,
    /// The clock's resolution, when it is coarse (known once the engine is ready).
    pub(crate) isolation: RwSignal<Vec<String>>,
    /// The cold-start check of the last Run press, as shown.
    pub(crate) check: RwSignal<Option<ColdCheck>>,
    /// What the run will hold in memory, and whether that is too much for a tab.
    pub(crate) memory: RwSignal<Option<(String, bool)>>,
    /// The runs kept (finished and imported), their figures and comparison.
    pub(crate) library: Library,
    /// A race's targets in the settings' order, with their stats so far (empty before their first report).
    pub(crate) race_live: RwSignal<Vec<(String, Map<String, Value>)>>,
    /// A race's comparisons of each target with the first, once it has ended.
    pub(crate) race_result: RwSignal<Vec<RaceComparison>>,
    /// The library ids of the race's target runs, to keep the comparison with.
    race_ids: StoredValue<Vec<String>>,
    /// The current run's requests, tokens and latency per second, for the live figures (while it goes on).
    pub(crate) timeline: RwSignal<Option<Timeline>>,
    /// Whether a run finished (or stopped) here, so there are files to download.
    has_last: RwSignal<bool>,
    /// The last run's id in the library.
    last_id: StoredValue<Option<String>>,
    /// When (worker time, ms) the live figures were last redrawn.
    timeline_drawn_at: StoredValue<f64>,
    /// The engine's worker; `None` once it failed (a new one starts at the next Run).
    engine: StoredValue<Option<Rc<EngineWorker>>, LocalStorage>,
    /// The number of the last `run-N` this page named.
    runs_started: StoredValue<u64>,
    /// The live table's groups to show (the form's *Table groups*).
    table_groups: StoredValue<Vec<TableGroup>>,
}

impl RunController {
    /// The controller, with its engine worker starting (it is ready long before anyone presses Run).
    pub(crate) fn new() -> Self {
        let run = RunController {
            phase: RwSignal::new(Phase::Idle),
            message: RwSignal::new("Choose an endpoint and press Run.".into()),
            progress: RwSignal::new(Progress::default()),
            bar: RwSignal::new(None),
            snapshot_age_ms: RwSignal::new(None),
            table: RwSignal::new(live_table(&Map::new())),
            health: RwSignal::new(Vec::new()),
            race_live: RwSignal::new(Vec::new()),
            race_result: RwSignal::new(Vec::new()),
            race_ids: StoredValue::new(Vec::new()),
            notes: RwSignal::new(Vec::new()),
            isolation: RwSignal::new(Vec::new()),
            check: RwSignal::new(None),
            memory: RwSignal::new(None),
            library: Library::new(),
            timeline: RwSignal::new(None),
            has_last: RwSignal::new(false),
            last_id: StoredValue::new(None),
            timeline_drawn_at: StoredValue::new(f64::NEG_INFINITY),
            engine: StoredValue::new_local(None),
            runs_started: StoredValue::new(0),
            table_groups: StoredValue::new(all_groups()),
        };
        // Started now, so it is ready long before anyone presses Run; a failure shows at once.
        if let Err(e) = run.engine() {
            run.fail(e);
        }
        run
    }

    /// The engine's worker, started if there is none (the first time, or after the last one failed).
    fn engine(self) -> Result<Rc<EngineWorker>, String> {
        if let Some(engine) = self.engine.get_value() {
            return Ok(engine);
        }
        let worker = Rc::new(EngineWorker::spawn(
            move |m| self.on_engine(m),
            move |e| self.engine_failed(e),
        )?);
        self.engine.set_value(Some(worker.clone()));
        Ok(worker)
    }

    pub(crate) fn is_busy(&self) -> bool {
        matches!(self.phase.get(), Phase::Running | Phase::Stopping)
    }

    /// Validates the form and asks the engine to run it: one run, or one per concurrency level of a sweep.
    pub(crate) fn start(self, form: RunForm) {
        if self.is_busy() {
            return;
        }
        let engine = match self.engine() {
            Ok(engine) => engine,
            Err(e) => return self.fail(e),
        };
        let input = match form.read() {
            Ok(input) => input,
            Err(e) => return self.fail(e.to_string()),
        };
        let seed = PerformanceClock::start().wall_time().timestamp_micros() as u64;
        // Driven by the command, with a dataset or trace beside its configuration: the payloads it built.
        let built = match CommandHook::get().and_then(|hook| hook.payloads()) {
            Some((payloads, schedule)) => {
                Target::for_input(&input, Some(payloads), None, None, &form.credentials(), seed)
                    .map(|t| (t, schedule))
                    .map_err(|e| format!("The target cannot be used as set: {e}."))
            }
            None => target_for(&input, form, seed).and_then(|t| Ok((t, form.trace_schedule(&input)?))),
        };
        let (target, schedule) = match built {
            Ok(t) => t,
            Err(e) => return self.fail(e),
        };
        let tokenizer_json = match CommandHook::get().and_then(|hook| hook.tokenizer_json()) {
            Some(json) => Some(json),
            None => match form.tokenizer_json(&input) {
                Ok(json) => json,
                Err(e) => return self.fail(e),
            },
        };
        self.table_groups.set_value(input.table_groups.clone());
        let plans: Vec<_> = input
            .runs
            .iter()
            .map(|r| {
                r.plan
                    .with_payloads(target.n_payloads())
                    .with_schedule(schedule.clone())
            })
            .collect();
        let payload_bytes = input.prompt.len() as u64 + 100;
        let budget = StatsConfig::default().chunk_value_budget;
        let largest = plans
            .iter()
            .map(|plan| MemoryEstimate::of(plan, payload_bytes, input.max_tokens, budget, RecordPlace::Store))
            .max_by_key(|e| e.bytes);
        self.memory
            .set(largest.map(|e| (memory_message(&e), e.is_too_large() || e.stores_too_much())));
        // Numbered after the runs kept (across reloads too), so a new run never takes a kept run's name.
        let highest = self.library.runs.with_untracked(|runs| {
            runs.iter()
                .filter_map(|r| r.name.strip_prefix("run-")?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
        });
        let number = self.runs_started.get_value().max(highest) + 1;
        self.runs_started.set_value(number);
        self.check.set(None);
        self.health.set(Vec::new());
        // A race's targets, in the settings' order, before any reports.
        let race: Vec<_> = input.race.iter().map(|t| (t.run_name(), Map::new())).collect();
        self.race_live.set(race);
        self.race_result.set(Vec::new());
        self.race_ids.set_value(Vec::new());
        self.progress.set(Progress::default());
        self.bar.set(None);
        self.phase.set(Phase::Running);
        self.message.set(if input.cold_check && !target.is_simulated() {
            "Checking the endpoint (one untimed request)…".into()
        } else {
            "Starting…".into()
        });
        let command = CommandHook::get();
        // The run's records go to the browser's storage: ask that it be kept under storage pressure.
        ask_persistent_storage();
        let request = RunRequest {
            settings: form.raw(),
            payloads: target.payloads().to_vec(),
            schedule,
            tokenizer_json,
            credentials: form.credentials(),
            seed,
            default_name: format!("run-{number}"),
            // Driven by the `tokenmeter` command: it merges every shard's records as they come.
            tap_records: command.is_some(),
            // The worker decides: records leave its memory for the record store when the store opened.
            records_leave: false,
            store_cap_bytes: store_cap_hook(),
            clock_offset_ms: command.as_ref().and_then(CommandHook::clock_offset_ms),
        };
        let send = move || {
            engine.post(&ToEngine::Visibility {
                hidden: tab_is_hidden(),
            });
            engine.post(&ToEngine::Start {
                request: Box::new(request),
            });
        };
        // A public page and a local or private target: the page asks for Local Network Access first (the worker
        // cannot prompt). A page on this machine or a private network needs no permission.
        let page_is_public = web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .is_some_and(|origin| address_space(&origin).is_none());
        let local = target
            .http_origin()
            .filter(|_| page_is_public)
            .and_then(|origin| address_space(&origin).map(|space| (origin, space)));
        match local {
            None => send(),
            Some((origin, space)) => spawn_local(async move {
                match local_network::request_access(&origin, space).await {
                    Ok(()) => send(),
                    Err(e) => self.fail(e),
                }
            }),
        }
    }

    /// Takes one message of the engine's into the page's signals.
    fn on_engine(self, message: FromEngine) {
        match message {
            FromEngine::Ready { clock, .. } => self.isolation.set(isolation_note(&clock)),
            FromEngine::Checked { check } => self.check.set(Some(check)),
            FromEngine::RunStarted { run_name } => self.message.set(format!("Running {run_name}…")),
            FromEngine::Snapshot { snapshot } => self.show_snapshot(&snapshot),
            FromEngine::RunEnded { run } => {
                let now = PerformanceClock::start().wall_time().to_rfc3339();
                let mut saved = SavedRun::new(self.library.new_id(), run.files, run.stats, &now);
                saved.records = run.records;
                let records_kept = saved.records.is_some();
                // Storage filled up during the run: say so where storage speaks (the run's files say it too).
                if let Some(note) = saved.records.as_ref().and_then(|r| r.stopped.clone()) {
                    self.library.notice.set(Some(note));
                }
                self.last_id.set_value(Some(saved.id.clone()));
                if RaceTarget::is_race_run(&run.run_name) {
                    self.race_ids.update_value(|ids| ids.push(saved.id.clone()));
                }
                self.has_last.set(true);
                // Once the run is stored, its heartbeat goes (and its checkpoint, if its files hold its records).
                let (checkpoint, engine) = (run.checkpoint, self.engine.get_value());
                self.library.add_then(saved, move || {
                    if let (Some(checkpoint), Some(engine)) = (checkpoint, engine) {
                        engine.post(&ToEngine::Forget {
                            checkpoint,
                            records_kept,
                        });
                    }
                });
            }
            FromEngine::RaceCompared { comparisons } => {
                // Kept with every target's run, so each run's download and .zip carry the comparison.
                let ids = self.race_ids.get_value();
                self.library
                    .attach_file(&ids, RACE_FILE, &race_json(&comparisons));
                self.race_result.set(comparisons);
            }
            // Only a figures worker draws figures.
            FromEngine::Figures { .. } => {}
            FromEngine::Ended { ending, message } => {
                self.timeline.set(None);
                self.message.set(message);
                self.phase.set(match ending {
                    Ending::Done => Phase::Done,
                    Ending::Stopped => Phase::Stopped,
                    Ending::Failed => Phase::Invalid,
                });
            }
        }
    }

    fn show_snapshot(&self, snapshot: &Snapshot) {
        // A race's targets report side by side; the live table, progress and figures follow the first.
        if RaceTarget::is_race_run(&snapshot.run_name) {
            let mut first = false;
            self.race_live.update(|runs| {
                if let Some(i) = runs.iter().position(|(name, _)| *name == snapshot.run_name) {
                    first = i == 0;
                    runs[i].1 = snapshot.stats.clone();
                }
            });
            if !first {
                return;
            }
        }
        // The live figures redraw once a second (the table five times): drawing SVG is the page's costliest work,
        // and on a small machine it competes for the CPU with the worker's reads.
        let last = self.timeline_drawn_at.get_value();
        if snapshot.progress.done || snapshot.taken_at_ms - last >= LIVE_FIGURES_EVERY_MS {
            self.timeline_drawn_at.set_value(snapshot.taken_at_ms);
            self.timeline.set(Some(snapshot.timeline.clone()));
        }
        self.progress.set(snapshot.progress);
        self.bar.set(Some(snapshot.bar));
        let age = self
            .engine
            .with_value(|e| e.as_ref().and_then(|e| e.age_ms(snapshot.taken_at_ms)));
        self.snapshot_age_ms.set(age);
        self.show(&snapshot.stats);
        if let Some(warning) = &snapshot.client_warning {
            self.health.update(|h| h.push(warning.clone()));
        }
    }

    /// The worker failed to load, or crashed: what it was running is lost (its files never arrived), so the page
    /// says so; the next Run starts a new worker.
    fn engine_failed(self, message: String) {
        self.engine.set_value(None);
        self.timeline.set(None);
        self.fail(message);
    }

    /// Stops the run: no new requests; those in flight end as cancelled.
    pub(crate) fn stop(&self) {
        if self.phase.get_untracked() != Phase::Running {
            return;
        }
        if let Some(engine) = self.engine.get_value() {
            engine.post(&ToEngine::Stop);
            self.phase.set(Phase::Stopping);
        }
    }

    /// Whether a run (finished or stopped) has files to download.
    pub(crate) fn has_results(&self) -> bool {
        self.has_last.get()
    }

    /// Says what an import did (the imported runs are in the library already).
    pub(crate) fn show_imported(&self, note: &str) {
        if let Some(run) = self.library.focused_run() {
            self.show(&run.stats);
        }
        self.message.set(format!("Imported {note}."));
    }

    /// The last run of this page, as kept (for its `.zip`).
    pub(crate) fn last_run(&self) -> Option<std::sync::Arc<SavedRun>> {
        let id = self.last_id.get_value()?;
        self.library
            .runs
            .with_untracked(|runs| runs.iter().find(|r| r.id == id).cloned())
    }

    /// Shows a stats map: the grouped table and the client-health warnings derived from it.
    fn show(&self, stats: &Map<String, Value>) {
        self.table
            .set(live_table_of(stats, &self.table_groups.get_value()));
        self.health.set(client_health(stats));
        self.notes.set(precision_notes(stats));
    }

    /// The first request body the form would send, as pretty JSON (to edit and send as is).
    pub(crate) fn request_body(&self, form: RunForm) -> Result<String, String> {
        let input = form.read().map_err(|e| e.to_string())?;
        let target = target_for(&input, form, 0)?;
        let payload = target.payloads().first().ok_or("no payload")?;
        serde_json::to_string_pretty(payload).map_err(|e| e.to_string())
    }

    /// `payload.jsonl` of what the form would send (LLMeter's format).
    pub(crate) fn payload_file(&self, form: RunForm) -> Result<String, String> {
        let input = form.read().map_err(|e| e.to_string())?;
        let target = target_for(&input, form, 0)?;
        Ok(write_payload_jsonl(target.payloads()))
    }

    /// Shows that the settings cannot run (as a refused Run press does).
    pub(crate) fn report_invalid(&self, message: String) {
        self.fail(message);
    }

    /// `run_config.json` for the form as it is: the file a run of it would write, before running it.
    pub(crate) fn config_file(&self, form: RunForm) -> Result<String, String> {
        let input = form.read().map_err(|e| e.to_string())?;
        let first = input.runs.first().ok_or("no run to describe")?;
        let identity = RunIdentity {
            shard: None,
            settings: form.raw().to_json(),
            clock: None,
            check: None,
            run_name: input.name.clone().unwrap_or_default(),
            run_description: input.description.clone(),
            endpoint: input.target.endpoint_block(),
            plan: first.plan.clone(),
        };
        let now = PerformanceClock::start().wall_time();
        let mut live = LiveRun::new(identity, StatsConfig::default(), now).map_err(|e| e.to_string())?;
        live.files(now)
            .into_iter()
            .find(|(name, _)| *name == RunFile::RunConfig.file_name())
            .map(|(_, text)| text)
            .ok_or_else(|| "no run_config.json was written".to_owned())
    }

    fn fail(&self, message: String) {
        self.phase.set(Phase::Invalid);
        self.message.set(message);
    }
}

/// The test hook capping what one run may store (`window.__tokenmeter_store_cap_bytes`, set by a test before the
/// page loads; no link or setting can set it).
fn store_cap_hook() -> Option<u64> {
    js_sys::Reflect::get(&js_sys::global(), &"__tokenmeter_store_cap_bytes".into())
        .ok()
        .and_then(|v| v.as_f64())
        .map(|v| v as u64)
}

/// Whether the page's tab is hidden now (browsers then throttle its timers).
fn tab_is_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

/// The note shown when the page cannot time finely: without cross-origin isolation browsers round
/// `performance.now()` to 100 µs.
fn isolation_note(clock: &ClockInfo) -> Vec<String> {
    (!clock.cross_origin_isolated)
        .then(|| {
            format!(
                "This page is not cross-origin isolated, so the browser times to {} µs steps; serve it with the \
                 COOP and COEP headers (README, Publishing the page) for 5 µs. run_config.json records this.",
                clock.timer_resolution_us
            )
        })
        .into_iter()
        .collect()
}

/// The memory line shown when a run starts: the estimate, and past a limit what to do about it.
fn memory_message(estimate: &MemoryEstimate) -> String {
    if estimate.is_too_large() {
        format!(
            "Memory: this run may hold {estimate}, more than a browser tab can safely keep (about {}). Turn on \
             Low memory to bin per-chunk values, or shorten the run.",
            human_bytes(WARN_BYTES)
        )
    } else if estimate.stores_too_much() {
        format!(
            "Memory: {estimate}. That may be more storage than the browser gives this page (often about {}): if \
             it fills, the run goes on with exact statistics and stops keeping responses, saying so. Delete old \
             runs, or shorten the run.",
            human_bytes(WARN_STORED_BYTES)
        )
    } else {
        format!("Memory: {estimate}.")
    }
}

/// The HTTP/1.1 connection warning for the form as it is: shown as soon as the settings would queue in the
/// browser, before Run is pressed (reactive: it reads the form's signals).
pub(crate) fn planned_connection_warning(form: RunForm) -> Option<String> {
    let input = form.watched().parse().ok()?;
    let target = target_for(&input, form, 0).ok()?;
    let widest = input
        .runs
        .iter()
        .filter_map(|r| r.plan.arrival().max_in_flight())
        .max();
    connection_warning(target.http_origin().as_deref(), widest, input.fan_out)
}
