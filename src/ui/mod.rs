//! Leptos components: the endpoint form, the run controls and the results. wasm32 only.
//!
//! Components render and dispatch; measurement happens in `engine` and `core`.

mod form;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser::clock::PerformanceClock;
use crate::browser::fetch::FetchTransport;
use crate::core::metrics;
use crate::core::record::RequestRecord;
use crate::engine::cancel::CancelToken;
use crate::engine::request::{execute, RequestOptions};
use crate::engine::Clock;
use form::EndpointForm;

/// What the results panel shows.
#[derive(Debug, Clone, PartialEq)]
enum RunStatus {
    Idle,
    Running,
    Done(Box<RequestRecord>),
    Invalid(String),
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let form = EndpointForm::from_location();
    let (status, set_status) = signal(RunStatus::Idle);

    let run = move |_| {
        let endpoint = match form.endpoint() {
            Ok(e) => e,
            Err(message) => return set_status.set(RunStatus::Invalid(message)),
        };
        set_status.set(RunStatus::Running);
        spawn_local(async move {
            let clock = PerformanceClock::start();
            let transport = FetchTransport::new(clock);
            let prepared = endpoint.prepare(0);
            let record = match prepared {
                Ok(p) => {
                    execute(
                        &transport,
                        &clock,
                        p,
                        clock.now(),
                        RequestOptions::default(),
                        &CancelToken::new(),
                    )
                    .await
                }
                Err(message) => return set_status.set(RunStatus::Invalid(message)),
            };
            set_status.set(RunStatus::Done(Box::new(record)));
        });
    };

    view! {
        <header class="topbar">
            <h1>"Tokenmeter"</h1>
            <p class="tagline">"Latency and throughput of LLM endpoints, measured from your browser."</p>
        </header>
        <main>
            <section class="panel">
                <h2>"Endpoint"</h2>
                {form.view()}
                <button id="run" class="primary" on:click=run
                    disabled=move || status.with(|s| *s == RunStatus::Running)>"Run"</button>
            </section>
            <section class="panel">
                <h2>"Result"</h2>
                {move || result_view(&status.get())}
            </section>
        </main>
    }
}

fn secs_ms(v: Option<f64>) -> String {
    v.map(|s| format!("{:.1}", s * 1e3)).unwrap_or_else(|| "—".into())
}

fn first_byte(r: &RequestRecord) -> Option<f64> {
    r.timing
        .first_byte_at
        .map(|at| at.secs_since(r.timing.dispatched_at))
}

fn result_view(status: &RunStatus) -> AnyView {
    match status {
        RunStatus::Idle => {
            view! { <p id="status" data-status="idle">"Press Run to send one streamed request."</p> }
                .into_any()
        }
        RunStatus::Running => view! { <p id="status" data-status="running">"Running…"</p> }.into_any(),
        RunStatus::Invalid(m) => {
            view! { <p id="status" class="error" data-status="invalid">{m.clone()}</p> }.into_any()
        }
        RunStatus::Done(r) => {
            let error = r
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.kind.as_str(), e.message));
            let state = if error.is_some() { "failed" } else { "done" };
            view! {
                <p id="status" data-status=state>{error.unwrap_or_else(|| "Done.".into())}</p>
                <dl class="metrics">
                    <dt>"Time to first byte (ms)"</dt><dd id="ttfb">{secs_ms(first_byte(r))}</dd>
                    <dt>"TTFT (ms)"</dt><dd id="ttft">{secs_ms(metrics::time_to_first_token(r))}</dd>
                    <dt>"TTLT (ms)"</dt><dd id="ttlt">{secs_ms(metrics::time_to_last_token(r))}</dd>
                    <dt>"TPOT (ms)"</dt><dd id="tpot">{secs_ms(metrics::time_per_output_token(r))}</dd>
                    <dt>"Output tokens"</dt>
                    <dd id="output-tokens">{r.tokens.output.map(|n| n.to_string()).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"HTTP status"</dt>
                    <dd id="http-status">{r.http_status.map(|n| n.to_string()).unwrap_or_else(|| "—".into())}</dd>
                </dl>
                <pre id="response-text" class="response">{r.response_text.clone().unwrap_or_default()}</pre>
            }
            .into_any()
        }
    }
}
