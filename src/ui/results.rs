//! Result views: the grouped live table, downloading and importing result files, and the side-by-side comparison
//! of finished and imported runs.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser::files;
use crate::charts::comparison::{percentiles_svg, RunStats};
use crate::core::format::{read_stats, stats_config_for, Files, LoadedRun, RunFile};
use crate::core::stats::Metric;
use crate::core::table::{format_cell, Group, COMPARED};
use crate::ui::run::{RunController, RunResult};

/// The grouped live table; each value cell carries its `stats.json` key as `data-stat`.
#[component]
pub(crate) fn LiveTable(groups: RwSignal<Vec<Group>>) -> impl IntoView {
    view! {
        <div id="live-table" class="groups">
            {move || groups.get().into_iter().map(|g| view! {
                <table class="group">
                    <caption>{g.title}</caption>
                    <tbody>
                        {g.rows.into_iter().map(|r| view! {
                            <tr><th scope="row">{r.label}</th><td data-stat=r.key>{r.value}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }).collect_view()}
        </div>
    }
}

/// Download buttons for the last run's files, and a file picker to import a run folder (ours or LLMeter's).
#[component]
pub(crate) fn ExportImport(run: RunController) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    // Downloads the run's files whose name `wanted` accepts.
    let save = move |wanted: &dyn Fn(&str) -> bool| match run.files() {
        Some(files) => {
            for (name, contents) in files.into_iter().filter(|(n, _)| wanted(n)) {
                let mime = if name.ends_with(".jsonl") {
                    "application/x-ndjson"
                } else {
                    "application/json"
                };
                if let Err(e) = files::download(&name, &contents, mime) {
                    error.set(Some(e));
                }
            }
        }
        None => error.set(Some(
            "Run something first: there is nothing to export yet.".into(),
        )),
    };
    let download = move |_| save(&|_| true);
    // One button per file, named by the file, so a person or a script can fetch just that one.
    let per_file = move || {
        run.has_results().then(|| {
            RunFile::ALL
                .map(RunFile::file_name)
                .into_iter()
                .map(|name| {
                    view! {
                        <button class="download-file" data-file=name
                            on:click=move |_| save(&|n| n == name) disabled=move || run.is_busy()>{name}</button>
                    }
                })
                .collect_view()
        })
    };
    let import = move |ev: leptos::ev::Event| {
        let picked = files::take_picked(&ev);
        spawn_local(async move {
            match import_files(&picked).await {
                Ok((name, stats, note)) => {
                    error.set(None);
                    run.show_imported(name, stats, &note);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="export">
            <button id="export" on:click=download disabled=move || run.is_busy()>"Download results"</button>
            <span class="downloads" aria-label="Download one file">{per_file}</span>
            <label class="file-button">
                "Import run folder files"
                <input id="import" type="file" multiple accept=".json,.jsonl" on:change=import
                    disabled=move || run.is_busy() />
            </label>
            {move || error.get().map(|e| view! { <p id="import-error" class="error">{e}</p> })}
        </div>
    }
}

/// Reads the picked files of one run folder and recomputes its statistics.
/// Reads the picked files of one run folder and recomputes its statistics under the rules its own `stats.json`
/// names (LLMeter's, for an LLMeter folder: its percentile method and rate window), so the page shows the
/// folder's own numbers. Returns the run's name, its stats and what the page should say about them.
async fn import_files(
    picked: &[web_sys::File],
) -> Result<(String, serde_json::Map<String, serde_json::Value>, String), String> {
    let mut texts = Vec::new();
    for file in picked {
        texts.push((file.name(), files::read_text(file).await?));
    }
    let known = RunFile::ALL.map(RunFile::file_name);
    if let Some((other, _)) = texts
        .iter()
        .find(|(n, _)| !known.contains(&n.as_str()) && n != "payload.jsonl")
    {
        return Err(format!(
            "{other} is not a run folder file (expected {}).",
            known.join(", ")
        ));
    }
    let files = Files::from_named(&texts);
    let saved = files.stats.and_then(|text| read_stats(text).ok());
    let config = stats_config_for(saved.as_ref(), None);
    let rules = format!(
        "percentiles: {}, rate window: {}",
        config.method.as_str(),
        config.rate_window.as_str()
    );
    let loaded = LoadedRun::from_files(&files, config).map_err(|e| e.to_string())?;
    let name = loaded
        .info
        .run_name
        .clone()
        .unwrap_or_else(|| "imported run".into());
    let mut note = format!("recomputed with the folder's own rules ({rules})");
    for warning in &loaded.warnings {
        note.push_str(&format!("; warning: {warning}"));
    }
    Ok((format!("{name} (imported)"), loaded.stats, note))
}

/// Finished and imported runs side by side.
#[component]
pub(crate) fn Comparison(results: RwSignal<Vec<RunResult>>) -> impl IntoView {
    view! {
        <Show when=move || !results.with(Vec::is_empty)>
            <h3>"Compare runs"</h3>
            <table id="comparison" class="comparison">
                <thead><tr><th></th>{move || results.get().into_iter().map(|r| view! { <th>{r.name}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {COMPARED.into_iter().map(|(label, key, unit)| view! {
                        <tr>
                            <th scope="row">{label}</th>
                            {move || results.get().into_iter().map(|r| {
                                let v = format_cell(key.get(&r.stats), unit);
                                view! { <td data-stat=key.to_string()>{v}</td> }
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <div id="charts" class="charts">
                <div class="chart" inner_html=move || chart(&results.get(), "TTFT", Metric::TimeToFirstToken)></div>
                <div class="chart" inner_html=move || chart(&results.get(), "TTLT", Metric::TimeToLastToken)></div>
            </div>
        </Show>
    }
}

/// The percentile chart of `metric` across `results`, as inline SVG.
fn chart(results: &[RunResult], title: &str, metric: Metric) -> String {
    let runs: Vec<RunStats<'_>> = results
        .iter()
        .map(|r| RunStats {
            name: &r.name,
            stats: &r.stats,
        })
        .collect();
    percentiles_svg(&format!("{title} by run (ms)"), metric, &runs, (560, 280))
}
