//! The figures: live over-time charts while a run goes on (from the engine's timeline, never from records), the
//! per-run set of the run in focus (histograms, CDFs, box plots, scatters, over time, heatmaps), and LLMeter's
//! load-test figures across the selected runs. Every figure downloads as SVG and as PNG.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser::engine_worker::EngineWorker;
use crate::browser::{files, raster};
use crate::charts::over_time::{latency_over_time, output_tokens_over_time, requests_over_time};
use crate::charts::slo_search::slo_search_svg;
use crate::charts::{load_test_figures, ClientScale, Figure};
use crate::core::report::{Report, ReportRun, ReportSection};
use crate::core::saved::{slo_search, SavedRun};
use crate::core::server_metrics::SERVER_METRICS_FILE;
use crate::core::timeline::Timeline;
use crate::engine::remote::{FigureJob, FromEngine, ToEngine};
use crate::ui::library::Library;
use crate::ui::results::comparison_figures;

/// Every figure's size, in SVG units (the PNG is twice that).
pub(crate) const FIGURE_SIZE: (u32, u32) = (560, 320);

/// One figure with its download buttons; its SVG goes into the page once `shown` (a run's figures are shown one
/// per animation frame, so parsing their markup never holds the page's thread long).
#[component]
fn FigureView(figure: Figure, #[prop(into)] shown: Signal<bool>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let Figure { id, title, svg } = figure;
    let id = id.into_owned();
    let (svg_id, png_id) = (id.clone(), id.clone());
    let svg_file = svg.clone();
    let save_svg = move |_| {
        if let Err(e) = files::download(&format!("{svg_id}.svg"), &svg_file, "image/svg+xml") {
            error.set(Some(e));
        }
    };
    let png_source = svg.clone();
    let save_png = move |_| {
        let (svg, id) = (png_source.clone(), png_id.clone());
        spawn_local(async move {
            let saved = raster::svg_to_png(&svg, FIGURE_SIZE.0, FIGURE_SIZE.1)
                .await
                .and_then(|blob| files::download_blob(&format!("{id}.png"), &blob));
            error.set(saved.err());
        });
    };
    view! {
        <figure class="figure" data-figure=id>
            <div class="figure-svg" inner_html=move || if shown.get() { svg.clone() } else { String::new() }></div>
            <figcaption>
                <span class="figure-title">{title}</span>
                <button class="download-svg" on:click=save_svg>"SVG"</button>
                <button class="download-png" on:click=save_png>"PNG"</button>
            </figcaption>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </figure>
    }
}

/// Figures side by side, each with its download buttons.
pub(crate) fn gallery(figures: Vec<Figure>) -> impl IntoView {
    revealed_gallery(figures, 0, None)
}

/// [`gallery`] of figures numbered from `first`, each shown once `revealed` passes its number (all at once without).
fn revealed_gallery(
    figures: Vec<Figure>,
    first: usize,
    revealed: Option<ReadSignal<usize>>,
) -> impl IntoView {
    figures
        .into_iter()
        .enumerate()
        .map(|(i, figure)| {
            let shown = Signal::derive(move || revealed.is_none_or(|r| r.get() > first + i));
            view! { <FigureView figure=figure shown=shown /> }
        })
        .collect_view()
}

/// Shows one more of `total` figures per animation frame, while `generation` is still `current`'s.
fn reveal_next(revealed: RwSignal<usize>, total: usize, generation: StoredValue<u64>, current: u64) {
    request_animation_frame(move || {
        if generation.try_get_value() != Some(current) {
            return;
        }
        revealed.update(|n| *n += 1);
        if revealed.get_untracked() < total {
            reveal_next(revealed, total, generation, current);
        }
    });
}

/// Requests, output tokens and latency per second while a run goes on, redrawn with each snapshot.
#[component]
pub(crate) fn LiveFigures(timeline: RwSignal<Option<Timeline>>) -> impl IntoView {
    move || {
        timeline.get().map(|t| {
            let figures = vec![
                requests_over_time(&t, FIGURE_SIZE),
                output_tokens_over_time(&t, FIGURE_SIZE),
                latency_over_time(&t, FIGURE_SIZE),
            ];
            view! { <div id="live-figures" class="figures">{gallery(figures)}</div> }
        })
    }
}

/// How the per-run figures are grouped on the page (each group folds away; the first is open), by figure id.
const RUN_GROUPS: [(&str, &[&str]); 4] = [
    (
        "Distributions",
        &[
            "ttft-histogram",
            "ttlt-histogram",
            "tpot-histogram",
            "itl-histogram",
            "ttft-cdf",
            "ttlt-cdf",
            "latency-boxplots",
        ],
    ),
    (
        "Over time",
        &[
            "ttft-over-time",
            "requests-over-time",
            "output-tokens-over-time",
            "latency-over-time",
        ],
    ),
    ("By tokens", &["ttft-vs-input-tokens", "ttlt-vs-output-tokens"]),
    ("Heatmaps", &["ttft-heatmap", "ttlt-heatmap"]),
];

/// `figures` in their [`RUN_GROUPS`]; a figure no group names comes last, under "More". Each is shown once
/// `revealed` passes its place in that order.
fn grouped(mut figures: Vec<Figure>, revealed: ReadSignal<usize>) -> impl IntoView {
    let mut groups: Vec<(&str, Vec<Figure>)> = RUN_GROUPS
        .iter()
        .map(|(title, ids)| {
            let (mine, rest): (Vec<Figure>, Vec<Figure>) =
                figures.drain(..).partition(|f| ids.contains(&f.id.as_ref()));
            figures = rest;
            (*title, mine)
        })
        .collect();
    groups.push(("More", figures));
    let mut first = 0;
    groups
        .into_iter()
        .filter(|(_, figures)| !figures.is_empty())
        .enumerate()
        .map(|(i, (title, figures))| {
            let start = first;
            first += figures.len();
            view! {
                <details class="figure-group" open=i == 0>
                    <summary>{title}</summary>
                    <div class="figures">{revealed_gallery(figures, start, Some(revealed))}</div>
                </details>
            }
        })
        .collect_view()
}

/// The figures of the run in focus, drawn by a figures worker (a second instance of the engine's worker) from the
/// run's stored records, read batch by batch, or its files: the page's thread only shows them. The worker ends
/// with its job (or when the focus moves), so its memory goes back.
#[component]
pub(crate) fn RunFigures(library: Library) -> impl IntoView {
    // Which run, by id: selecting or renaming a run must not redraw the focused run's figures.
    let focus = Memo::new(move |_| library.focused_run().map(|run| run.id.clone()));
    let drawn = RwSignal::new(None::<Result<Vec<Figure>, String>>);
    // How many of the drawn figures are in the page (one more per frame), for which focus.
    let revealed = RwSignal::new(0usize);
    let generation = StoredValue::new(0u64);
    let worker: StoredValue<Option<EngineWorker>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let id = focus.get();
        // A new focus ends the last job (dropping its worker terminates it).
        worker.set_value(None);
        drawn.set(None);
        revealed.set(0);
        generation.update_value(|g| *g += 1);
        let current = generation.get_value();
        let Some(run) = id.and_then(|id| {
            library
                .runs
                .with_untracked(|runs| runs.iter().find(|r| r.id == id).cloned())
        }) else {
            return;
        };
        let job = FigureJob {
            records: run.records.as_ref().map(|r| r.key.clone()),
            // With its records in the store, a run's figures need only the server's metrics among its files.
            files: run
                .files
                .iter()
                .filter(|(name, _)| run.records.is_none() || name == SERVER_METRICS_FILE)
                .cloned()
                .collect(),
            stats: run.stats.clone(),
            size: FIGURE_SIZE,
        };
        let done = move |result: Result<Vec<Figure>, String>| {
            if let Ok(figures) = &result {
                reveal_next(revealed, figures.len(), generation, current);
            }
            drawn.set(Some(result));
            // After this message's handler returns: a worker is not dropped from inside its own handler.
            spawn_local(async move { worker.set_value(None) });
        };
        let spawned = EngineWorker::spawn_figures(
            move |message| {
                if let FromEngine::Figures { figures } = message {
                    done(figures);
                }
            },
            move |e| done(Err(e)),
        );
        match spawned {
            Ok(figures_worker) => {
                figures_worker.post(&ToEngine::Figures { job: Box::new(job) });
                worker.set_value(Some(figures_worker));
            }
            Err(e) => drawn.set(Some(Err(e))),
        }
    });
    let name = move || {
        library
            .focused_run()
            .map(|run| run.name.clone())
            .unwrap_or_default()
    };
    move || {
        focus.get()?;
        let download_report = move |_| {
            let Some(Ok(figures)) = drawn.get_untracked() else {
                return;
            };
            if let Some(focused) = library.focused_run() {
                let html = page_report(&focused, figures, &library.selected());
                if let Err(e) = files::download(&report_file_name(&focused.name), &html, "text/html") {
                    drawn.set(Some(Err(e)));
                }
            }
        };
        Some(view! {
            <h3>"Figures: " <span id="figures-run">{name}</span></h3>
            <button id="export-report" on:click=download_report
                disabled=move || !matches!(drawn.get(), Some(Ok(_)))>"Download report (.html)"</button>
            {move || match drawn.get() {
                None => view! { <p id="figures-drawing" class="note">"Drawing the figures…"</p> }.into_any(),
                Some(Ok(figures)) => {
                    let total = figures.len();
                    view! {
                        <div id="figures" data-complete=move || (revealed.get() >= total).to_string()>
                            {grouped(figures, revealed.read_only())}
                        </div>
                    }
                    .into_any()
                }
                Some(Err(why)) => view! { <p id="figures-note" class="note">{why}</p> }.into_any(),
            }}
        })
    }
}

/// LLMeter's load-test figures over the selected runs, once they cover two client counts or more.
#[component]
pub(crate) fn LoadTestFigures(library: Library) -> impl IntoView {
    let log = RwSignal::new(true);
    move || {
        let selected = library.selected();
        let levels: Vec<(u32, &serde_json::Map<String, serde_json::Value>)> = selected
            .iter()
            .filter_map(|r| r.clients.map(|c| (c, &r.stats)))
            .collect();
        let mut counts: Vec<u32> = levels.iter().map(|(c, _)| *c).collect();
        counts.sort_unstable();
        counts.dedup();
        (counts.len() >= 2).then(|| {
            let scale = if log.get() {
                ClientScale::Log
            } else {
                ClientScale::Linear
            };
            let figures = load_test_figures(&levels, scale, FIGURE_SIZE);
            view! {
                <h3>"Load test: by clients"</h3>
                <label class="check"><input id="log-clients" type="checkbox" prop:checked=move || log.get()
                    on:change=move |ev| log.set(event_target_checked(&ev)) />"Log-scaled clients"</label>
                <div id="load-test-figures" class="figures">{gallery(figures)}</div>
            }
        })
    }
}

/// The SLO search's figure (its statistic against load, the knee marked) and outcome, once the selected runs
/// include its steps (a search selects its steps when it ends).
#[component]
pub(crate) fn SloSearchFigure(library: Library) -> impl IntoView {
    move || {
        let selected = library.selected();
        let runs: Vec<&SavedRun> = selected.iter().map(|r| r.as_ref()).collect();
        let search = slo_search(&runs)?;
        let figure = Figure::new(
            "slo-search",
            "SLO search".into(),
            slo_search_svg(&search, FIGURE_SIZE),
        );
        Some(view! {
            <h3>"SLO search"</h3>
            <p id="slo-search-summary">{search.summary()}</p>
            <div id="slo-search-figure" class="figures">{gallery(vec![figure])}</div>
        })
    }
}

/// The one-file report the page writes: the run in focus with its figures, the other selected runs (their
/// tables, settings and data), the comparison of the selected runs, and their SLO search if they are its steps.
fn page_report(focused: &SavedRun, figures: Vec<Figure>, selected: &[Arc<SavedRun>]) -> String {
    let mut runs = vec![ReportRun::of_saved(focused, figures)];
    runs.extend(
        selected
            .iter()
            .filter(|r| r.id != focused.id)
            .map(|r| ReportRun::of_saved(r, Vec::new())),
    );
    let mut sections = Vec::new();
    if selected.len() >= 2 {
        sections.push(ReportSection {
            title: "Comparison".into(),
            paragraphs: vec![format!("{} runs selected.", selected.len())],
            figures: comparison_figures(selected),
        });
    }
    let steps: Vec<&SavedRun> = selected.iter().map(|r| r.as_ref()).collect();
    if let Some(search) = slo_search(&steps) {
        sections.push(ReportSection {
            title: "SLO search".into(),
            paragraphs: vec![search.summary()],
            figures: vec![Figure::new(
                "slo-search",
                "SLO search".into(),
                slo_search_svg(&search, FIGURE_SIZE),
            )],
        });
    }
    let written = js_sys::Date::new_0()
        .to_iso_string()
        .as_string()
        .unwrap_or_default();
    Report {
        title: format!("Tokenmeter report: {}", focused.name),
        generated: format!("Written {written} by the Tokenmeter page."),
        sections,
        runs,
    }
    .to_html()
}

/// `tokenmeter-report-<run name>.html`, the name made safe for a file.
fn report_file_name(run: &str) -> String {
    let safe: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("tokenmeter-report-{safe}.html")
}
