//! Starting, watching and stopping a run: the page's side of the engine. The run's [`LiveRun`] receives engine
//! events inline; a refresh loop copies its snapshot into signals at most [`REFRESH`] apart, so rendering never
//! runs per event (the page stays responsive at thousands of requests per second).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};

use crate::browser::clock::{clock_info, PerformanceClock};
use crate::browser::fetch::FetchTransport;
use crate::core::budget::{human_bytes, MemoryEstimate, WARN_BYTES};
use crate::core::format::ClockInfo;
use crate::core::input::{NamedRun, RunInput, SimulatedSettings};
use crate::core::payload::{generated_prompt, write_payload_jsonl};
use crate::core::progress::ProgressView;
use crate::core::scheduler::Dispatch;
use crate::core::stats::StatsConfig;
use crate::core::table::{client_health, group_titles, live_table, live_table_of, precision_notes, Group};
use crate::core::time::Timestamp;
use crate::engine::cancel::CancelToken;
use crate::engine::driver;
use crate::engine::live::{LiveRun, Progress, RunIdentity};
use crate::engine::simulated::{SimulatedModel, SimulatedTransport};
use crate::engine::sink::{EngineEvent, EventSink};
use crate::engine::target::Target;
use crate::engine::Clock;
use crate::protocol::payload_options::PayloadOptions;
use crate::ui::form::RunForm;

/// How often the live table is refreshed while a run goes on (LLMeter refreshes every 0.5 s).
const REFRESH: Duration = Duration::from_millis(200);

/// Browsers open at most this many HTTP/1.1 connections per origin; more concurrent requests queue inside the
/// browser.
const HTTP1_CONNECTIONS_PER_ORIGIN: u32 = 6;

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
    /// failed (the settings were refused).
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

/// A finished (or imported) run's statistics, for the comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunResult {
    pub(crate) name: String,
    pub(crate) stats: Map<String, Value>,
}

/// What the form would send: the uploaded payloads, or one payload from the prompt (or a generated prompt of the
/// asked length), in the API's shape; with the cache buster when asked, seeded by `seed` (one per Run press).
fn target_for(input: &RunInput, form: RunForm, seed: u64) -> Result<Target, String> {
    let credentials = form.credentials();
    let target = match (&input.payload_json, form.uploaded_payloads()) {
        (Some(body), _) => Target::new(&input.target, vec![body.clone()], &credentials),
        (None, Some(payloads)) => Target::new(&input.target, payloads, &credentials),
        (None, None) => {
            let prompt = match input.prompt_tokens {
                Some(tokens) => generated_prompt(tokens, seed),
                None => input.prompt.clone(),
            };
            let options = PayloadOptions {
                system: input.system.clone(),
                temperature: input.temperature,
                image: form.image(),
            };
            Target::with_prompt_and(&input.target, &prompt, input.max_tokens, &options, &credentials)
        }
    }
    .map_err(|e| format!("The target cannot be used as set: {e}."))?;
    Ok(if input.cache_buster {
        target.with_cache_buster(seed)
    } else {
        target
    })
}

/// What every run of one Run press shares besides its plan.
struct RunSettings {
    /// The form as text, for `run_config.json`.
    raw: serde_json::Value,
    /// What the page's clock resolves, measured once per Run press.
    clock: ClockInfo,
    description: Option<String>,
    stats: StatsConfig,
    simulated: SimulatedSettings,
}

/// The page's run state. Copyable handle: signals plus local (non-`Send`) storage for the live run.
#[derive(Clone, Copy)]
pub(crate) struct RunController {
    pub(crate) phase: RwSignal<Phase>,
    pub(crate) message: RwSignal<String>,
    pub(crate) warning: RwSignal<Option<String>>,
    pub(crate) progress: RwSignal<Progress>,
    /// Share done, time elapsed and left, of the current run.
    pub(crate) bar: RwSignal<Option<ProgressView>>,
    pub(crate) table: RwSignal<Vec<Group>>,
    /// Warnings that the client, not the server, shaped the numbers.
    pub(crate) health: RwSignal<Vec<String>>,
    /// Notes on how figures were computed (binned percentiles).
    pub(crate) notes: RwSignal<Vec<String>>,
    /// The clock's resolution, when it is coarse (known when the run starts).
    pub(crate) isolation: RwSignal<Vec<String>>,
    /// What the run will hold in memory, and whether that is too much for a tab.
    pub(crate) memory: RwSignal<Option<(String, bool)>>,
    pub(crate) results: RwSignal<Vec<RunResult>>,
    live: StoredValue<Option<Rc<RefCell<LiveRun>>>, LocalStorage>,
    cancel: StoredValue<Option<CancelToken>, LocalStorage>,
    runs_started: StoredValue<u64>,
    /// The live table's groups to show (the form's *Table groups*).
    table_groups: StoredValue<Vec<&'static str>>,
}

impl RunController {
    pub(crate) fn new() -> Self {
        RunController {
            phase: RwSignal::new(Phase::Idle),
            message: RwSignal::new("Choose an endpoint and press Run.".into()),
            warning: RwSignal::new(None),
            progress: RwSignal::new(Progress::default()),
            bar: RwSignal::new(None),
            table: RwSignal::new(live_table(&Map::new())),
            health: RwSignal::new(Vec::new()),
            notes: RwSignal::new(Vec::new()),
            isolation: RwSignal::new(Vec::new()),
            memory: RwSignal::new(None),
            results: RwSignal::new(Vec::new()),
            live: StoredValue::new_local(None),
            cancel: StoredValue::new_local(None),
            runs_started: StoredValue::new(0),
            table_groups: StoredValue::new(group_titles()),
        }
    }

    pub(crate) fn is_busy(&self) -> bool {
        matches!(self.phase.get(), Phase::Running | Phase::Stopping)
    }

    /// Validates the form and starts its runs: one, or one per concurrency level of a LoadTest sweep.
    pub(crate) fn start(self, form: RunForm) {
        if self.is_busy() {
            return;
        }
        let input = match form.read() {
            Ok(input) => input,
            Err(e) => return self.fail(e.to_string()),
        };
        let seed = PerformanceClock::start().wall_time().timestamp_micros() as u64;
        let target = match target_for(&input, form, seed) {
            Ok(t) => Rc::new(t),
            Err(e) => return self.fail(e),
        };
        self.table_groups.set_value(input.table_groups.clone());
        let clock = clock_info();
        self.isolation.set(isolation_note(&clock));
        let settings = Rc::new(RunSettings {
            raw: form.raw().to_json(),
            clock,
            description: input.description.clone(),
            stats: StatsConfig {
                slo: input.slo,
                cost: input.cost,
                ..StatsConfig::default()
            },
            simulated: input.simulated,
        });
        // Every payload is sent in turn: the plans cycle through as many as the target has.
        let mut runs: Vec<NamedRun> = input
            .runs
            .into_iter()
            .map(|r| NamedRun {
                plan: r.plan.with_payloads(target.n_payloads()),
                ..r
            })
            .collect();
        let payload_bytes = input.prompt.len() as u64 + 100;
        let budget = StatsConfig::default().chunk_value_budget;
        let largest = runs
            .iter()
            .map(|r| MemoryEstimate::of(&r.plan, payload_bytes, input.max_tokens, budget))
            .max_by_key(|e| e.bytes);
        self.memory
            .set(largest.map(|e| (memory_message(&e), e.is_too_large())));
        let widest = runs.iter().filter_map(|r| r.plan.arrival().max_in_flight()).max();
        self.warning
            .set(connection_warning(target.http_origin().as_deref(), widest));
        if runs.len() == 1 && runs[0].name.is_empty() {
            let number = self.runs_started.get_value() + 1;
            self.runs_started.set_value(number);
            runs[0].name = format!("run-{number}");
        }
        let cancel = CancelToken::new();
        self.cancel.set_value(Some(cancel.clone()));
        self.phase.set(Phase::Running);
        spawn_local(async move {
            let mut outcome = Ok((Phase::Done, String::new()));
            for run in runs {
                outcome = self.run_one(run, &target, &settings, &cancel).await;
                if !matches!(outcome, Ok((Phase::Done, _))) {
                    break;
                }
            }
            match outcome {
                Ok((phase, message)) => {
                    self.message.set(message);
                    self.phase.set(phase);
                }
                Err(message) => self.fail(message),
            }
            self.cancel.set_value(None);
        });
    }

    /// Runs one plan to its end, refreshing the live table meanwhile; returns the phase it ended in and a summary.
    async fn run_one(
        self,
        run: NamedRun,
        target: &Target,
        settings: &RunSettings,
        cancel: &CancelToken,
    ) -> Result<(Phase, String), String> {
        let clock = PerformanceClock::start();
        let NamedRun { name, plan } = run;
        let identity = RunIdentity {
            settings: settings.raw.clone(),
            clock: Some(settings.clock),
            run_name: name.clone(),
            run_description: settings.description.clone(),
            endpoint: target.endpoint_block(),
            plan,
        };
        let live = LiveRun::new(identity, settings.stats.clone(), clock.wall_time())
            .map_err(|e| format!("Statistics settings: {e}"))?;
        let live = Rc::new(RefCell::new(live));
        let plan = live.borrow().identity().plan.clone();
        self.live.set_value(Some(live.clone()));
        self.message.set(format!("Running {name}…"));
        self.refresh_loop(live.clone(), clock);

        let seed = clock.wall_time().timestamp_micros() as u64;
        let mut sink = |event: EngineEvent| live.borrow_mut().on_event(event);
        // AWS requests are signed here, at dispatch, with the page's wall clock.
        let make = |d: &Dispatch| target.prepare(d.request_id, d.payload_index, clock.wall_time());
        let summary = if let Some(api) = target.simulated_api() {
            let sim = settings.simulated;
            let model = SimulatedModel {
                ttft: sim.ttft,
                inter_token: sim.inter_token,
                output_tokens: sim.output_tokens,
                error_rate: sim.error_rate,
                seed,
                ..Default::default()
            };
            let transport = SimulatedTransport::new(model, api, clock);
            driver::run(&plan, seed, &transport, &clock, make, &mut sink, cancel).await
        } else {
            let transport = FetchTransport::new(clock);
            driver::run(&plan, seed, &transport, &clock, make, &mut sink, cancel).await
        };
        self.refresh(&live, clock);
        let stats = live.borrow_mut().snapshot(clock.wall_time());
        self.results.update(|r| {
            r.push(RunResult {
                name: name.clone(),
                stats,
            })
        });
        let (phase, verb) = if summary.interrupted {
            (Phase::Stopped, "stopped")
        } else {
            (Phase::Done, "finished")
        };
        let message = format!(
            "{name} {verb}: {} requests ({} ok, {} failed, {} cancelled) in {:.2} s.",
            summary.sent,
            summary.succeeded,
            summary.failed,
            summary.cancelled,
            summary.ended_at.secs_since(summary.started_at)
        );
        Ok((phase, message))
    }

    /// Stops the run: no new requests; those in flight end as cancelled.
    pub(crate) fn stop(&self) {
        if let Some(cancel) = self.cancel.get_value() {
            cancel.cancel();
            self.phase.set(Phase::Stopping);
        }
    }

    /// Whether a run (finished, stopped or going on) has files to download.
    pub(crate) fn has_results(&self) -> bool {
        self.phase.get() != Phase::Invalid && self.live.with_value(Option::is_some)
    }

    /// The current (or last) run's result files, ready to download.
    pub(crate) fn files(&self) -> Option<Vec<(&'static str, String)>> {
        let live = self.live.get_value()?;
        let clock = PerformanceClock::start();
        let files = live.borrow_mut().files(clock.wall_time());
        Some(files)
    }

    /// Shows an imported run's statistics and adds it to the comparison.
    pub(crate) fn show_imported(&self, name: String, stats: Map<String, Value>, note: &str) {
        self.show(&stats);
        self.message.set(format!("Imported {name}: {note}."));
        self.results.update(|r| r.push(RunResult { name, stats }));
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
            settings: form.raw().to_json(),
            clock: None,
            run_name: input.name.clone().unwrap_or_default(),
            run_description: input.description.clone(),
            endpoint: input.target.endpoint_block(),
            plan: first.plan.clone(),
        };
        let now = PerformanceClock::start().wall_time();
        let mut live = LiveRun::new(identity, StatsConfig::default(), now).map_err(|e| e.to_string())?;
        live.files(now)
            .into_iter()
            .find(|(name, _)| *name == "run_config.json")
            .map(|(_, text)| text)
            .ok_or_else(|| "no run_config.json was written".to_owned())
    }

    fn fail(&self, message: String) {
        self.phase.set(Phase::Invalid);
        self.message.set(message);
    }

    fn refresh(&self, live: &Rc<RefCell<LiveRun>>, clock: PerformanceClock) {
        let mut live = live.borrow_mut();
        let page_warning = live.page_health().warning();
        let progress = live.progress();
        let elapsed = clock.now().secs_since(Timestamp::ZERO);
        self.bar.set(Some(ProgressView::of(
            &live.identity().plan,
            progress.finished,
            elapsed,
        )));
        self.progress.set(progress);
        self.show(&live.snapshot(clock.wall_time()));
        if let Some(warning) = page_warning {
            self.health.update(|h| h.push(warning));
        }
    }

    /// Refreshes the page every [`REFRESH`] while the run goes on, and measures the page itself: how late each
    /// refresh timer fired, and how long the tab was hidden.
    fn refresh_loop(self, live: Rc<RefCell<LiveRun>>, clock: PerformanceClock) {
        spawn_local(async move {
            let mut last = clock.now();
            loop {
                let deadline = clock.now().plus(REFRESH);
                clock.sleep_until(deadline).await;
                let now = clock.now();
                {
                    let mut live = live.borrow_mut();
                    let page = live.page_health();
                    page.timer_fired_late(now.secs_since(deadline) * 1e3);
                    if tab_is_hidden() {
                        page.add_hidden(now.secs_since(last));
                    }
                }
                last = now;
                if live.borrow().progress().done {
                    break;
                }
                self.refresh(&live, clock);
            }
        });
    }
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

/// The memory line shown when a run starts: the estimate, and past the limit what to do about it.
fn memory_message(estimate: &MemoryEstimate) -> String {
    if estimate.is_too_large() {
        format!(
            "Memory: this run may hold {estimate}, more than a browser tab can safely keep (about {}). Turn on \
             Low memory to keep statistics only, or shorten the run.",
            human_bytes(WARN_BYTES)
        )
    } else {
        format!("Memory: {estimate}.")
    }
}

/// The warning shown when a run may queue inside the browser rather than at the server.
fn connection_warning(origin: Option<&str>, max_in_flight: Option<u32>) -> Option<String> {
    let origin = origin?;
    if max_in_flight.unwrap_or(u32::MAX) <= HTTP1_CONNECTIONS_PER_ORIGIN {
        return None;
    }
    let limit = HTTP1_CONNECTIONS_PER_ORIGIN;
    Some(if origin.starts_with("http://") {
        format!(
            "{origin} is plain HTTP, so the browser speaks HTTP/1.1 to it and opens at most {limit} connections: \
             requests beyond that wait inside the browser (their wait shows as browser queue time, and in TTFT). \
             Use HTTPS with HTTP/2, or at most {limit} clients."
        )
    } else {
        format!(
            "If {origin} does not speak HTTP/2, the browser opens at most {limit} connections to it and further \
             requests wait inside the browser. That wait is shown as browser queue time only when the server sends \
             Timing-Allow-Origin; otherwise it is hidden in TTFT."
        )
    })
}
