//! Leptos components: the run form, run controls, the grouped live table, the comparison of runs, and result
//! export and import. wasm32 only.
//!
//! Components render and dispatch; measurement happens in `engine` and `core`.

mod config;
mod figures;
mod form;
mod library;
mod results;
mod run;

use leptos::prelude::*;

use config::ConfigControls;
use figures::{LiveFigures, LoadTestFigures, RunFigures, SloSearchFigure};
use form::RunForm;
use library::RunsList;
use results::{Comparison, ExportImport, LiveTable, RaceView};
use run::{Phase, RunController};

/// The cold-start check as the page says it.
fn check_text(check: &crate::core::cold_check::ColdCheck) -> String {
    match (check.ok, check.http_status) {
        (true, status) => format!(
            "Checked {} with one untimed request ({}, {:.0} ms including the CORS preflight and connection \
             set-up), so the run's first requests are timed like the rest.",
            check.origin,
            status.map_or("ok".into(), |s| format!("HTTP {s}")),
            check.duration_secs * 1e3
        ),
        (false, _) => format!(
            "The check request to {} failed: {}",
            check.origin,
            check.error.as_deref().unwrap_or("no detail")
        ),
    }
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let form = RunForm::from_location();
    let run = RunController::new();
    config::automate(form, run);

    view! {
        <header class="topbar">
            <h1>"Tokenmeter"</h1>
            <p class="tagline">"Latency and throughput of LLM endpoints, measured from your browser."</p>
        </header>
        <main>
            <section class="panel">
                <h2>"Run"</h2>
                {form.view()}
                <div class="controls">
                    <button id="run" class="primary" on:click=move |_| run.start(form) disabled=move || run.is_busy()>
                        "Run"
                    </button>
                    <button id="stop" on:click=move |_| run.stop()
                        disabled=move || run.phase.get() != Phase::Running>"Stop"</button>
                </div>
                <ConfigControls form=form run=run />
            </section>
            <section class="panel results">
                <h2>"Results"</h2>
                <p id="status" data-build=crate::browser::engine_worker::BUILD_ID data-status=move || run.phase.get().as_str()
                    data-run-state=move || run.phase.get().run_state()
                    class:error=move || run.phase.get() == Phase::Invalid>{move || run.message.get()}</p>
                <p id="progress" class="progress"
                    data-snapshot-age-ms=move || run.snapshot_age_ms.get().map(|a| format!("{a:.1}"))>{move || {
                    let p = run.progress.get();
                    format!(
                        "{} sent · {} finished · {} failed · {} cancelled · {} in flight",
                        p.sent, p.finished, p.failed, p.cancelled, p.in_flight
                    )
                }}</p>
                {move || run.bar.get().map(|bar| view! {
                    <div class="progress-bar">
                        <progress id="progress-bar" max="1" value=bar.fraction aria-label="run progress"></progress>
                        <span id="progress-eta">{bar.text()}</span>
                    </div>
                })}
                {move || run.check.get().map(|c| {
                    let failed = !c.ok;
                    view! { <p id="cold-check" class:note=c.ok class:warning=failed data-ok=c.ok.to_string()>{check_text(&c)}</p> }
                })}
                {move || run::planned_connection_warning(form).map(|w| view! { <p id="client-warning" class="warning">{w}</p> })}
                {move || run.memory.get().map(|(text, too_large)| view! {
                    <p id="memory-estimate" class:warning=too_large class:note=!too_large>{text}</p>
                })}
                {move || run.health.get().into_iter().map(|w| view! { <p class="warning client-health">{w}</p> }).collect_view()}
                {move || run.notes.get().into_iter().map(|n| view! { <p class="note precision">{n}</p> }).collect_view()}
                {move || run.isolation.get().into_iter().map(|n| view! { <p id="isolation-note" class="note">{n}</p> }).collect_view()}
                <LiveTable groups=run.table />
                <RaceView run=run />
                <LiveFigures timeline=run.timeline />
                <ExportImport run=run />
                <RunsList library=run.library />
                <Comparison library=run.library />
                <LoadTestFigures library=run.library />
                <SloSearchFigure library=run.library />
                <RunFigures library=run.library />
            </section>
        </main>
    }
}
