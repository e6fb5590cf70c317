//! Result views: the grouped live table, downloading and importing result files (run folders, LoadTest folders,
//! `.zip` archives), and the side-by-side comparison of the selected runs.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};

use crate::browser::clock::PerformanceClock;
use crate::browser::files::{self, BlobLines};
use crate::browser::locks::LockGuard;
use crate::charts::comparison::{percentiles_svg, RunStats};
use crate::charts::Figure;
use crate::core::checkpoint::LINES_PER_BATCH;
use crate::core::format::archive::{group_run_folders, read_zip, FolderFiles};
use crate::core::format::foreign::read_foreign;
use crate::core::format::import::{pick, ImportRules, Pick};
use crate::core::format::{merge_folder_files, read_stats, Files, LoadedRun, ResponsesFold, RunFile};
use crate::core::saved::{SavedRun, StoredRecords};
use crate::core::stats::Metric;
use crate::core::table::{format_cell, Group, COMPARED};
use crate::engine::Clock;
use crate::ui::figures::{gallery, FIGURE_SIZE};
use crate::ui::library::{Library, RecordsWriter};
use crate::ui::run::RunController;

/// The grouped live table; each value cell carries its `stats.json` key as `data-stat`. A percentile's
/// confidence interval follows in its own cell (`data-ci`), so the value cell stays a plain number for scripts;
/// a percentile with too few values for an interval is marked `too-few` and says so.
#[component]
pub(crate) fn LiveTable(groups: RwSignal<Vec<Group>>) -> impl IntoView {
    view! {
        <div id="live-table" class="groups">
            {move || groups.get().into_iter().map(|g| view! {
                <table class="group">
                    <caption>{g.title}</caption>
                    <tbody>
                        {g.rows.into_iter().map(|r| {
                            let too_few = r.interval.as_ref().is_some_and(|i| i.too_few);
                            let ci = r.interval.map(|i| view! { <td class="ci" data-ci=r.key.clone()>{i.text}</td> });
                            view! {
                                <tr class:too-few=too_few>
                                    <th scope="row">{r.label}</th><td data-stat=r.key>{r.value}</td>{ci}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }).collect_view()}
        </div>
    }
}

/// Download buttons for the last run's files (each file, all of them, or one `.zip`), and importing run folders:
/// picked files, a picked folder (a LoadTest's level folders too) or `.zip` archives.
#[component]
pub(crate) fn ExportImport(run: RunController) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let library = run.library;
    // Downloads the last run's files whose name `wanted` accepts (`None`: a `.zip` of them all).
    let save = move |wanted: Option<String>| {
        let Some(saved) = run.last_run() else {
            return error.set(Some(
                "Run something first: there is nothing to export yet.".into(),
            ));
        };
        spawn_local(async move {
            let done = match wanted.as_deref() {
                Some("*") => library.download_files(&saved, |_| true).await,
                Some(name) => library.download_files(&saved, |n| n == name).await,
                None => library.download_zip(&saved).await,
            };
            error.set(done.err());
        });
    };
    let download = move |_| save(Some("*".into()));
    let zip = move |_| save(None);
    // One button per file, named by the file, so a person or a script can fetch just that one: the run files,
    // then any the last run keeps beside them (a race's race.json).
    let per_file = move || {
        run.has_results().then(|| {
            let mut names: Vec<String> = RunFile::ALL.map(|f| f.file_name().to_owned()).into();
            // Redrawn when the kept runs change (a race's comparison arrives after its runs).
            run.library.runs.track();
            if let Some(last) = run.last_run() {
                let extra: Vec<String> = last.file_names().into_iter().filter(|n| !names.contains(n)).collect();
                names.extend(extra);
            }
            names
                .into_iter()
                .map(|name| {
                    let (file, label) = (name.clone(), name.clone());
                    view! {
                        <button class="download-file" data-file=name
                            on:click=move |_| save(Some(file.clone())) disabled=move || run.is_busy()>{label}</button>
                    }
                })
                .collect_view()
        })
    };
    let rules = RwSignal::new(ImportRules::Own);
    let import = move |ev: leptos::ev::Event| {
        let picked = files::take_picked(&ev);
        let rules = rules.get_untracked();
        spawn_local(async move {
            match import_files(&picked, rules, library).await {
                Ok(note) => {
                    error.set(None);
                    run.show_imported(&note);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="export">
            <button id="export" on:click=download disabled=move || run.is_busy()>"Download results"</button>
            <button id="export-zip" on:click=zip disabled=move || run.is_busy()>"Download as .zip"</button>
            <span class="downloads" aria-label="Download one file">{per_file}</span>
        </div>
        <div class="export">
            <label class="file-button">
                "Import run files or .zip"
                <input id="import" type="file" multiple accept=".json,.jsonl,.zip" on:change=import
                    disabled=move || run.is_busy() />
            </label>
            <label class="file-button">
                "Import a folder"
                <input id="import-folder" type="file" multiple prop:webkitdirectory=true on:change=import
                    disabled=move || run.is_busy() />
            </label>
            <label for="import-rules">"Imported statistics"</label>
            <select id="import-rules" prop:value=move || rules.get().as_str()
                on:change=move |ev| rules.set(event_target_value(&ev).parse().unwrap_or_default())>
                {ImportRules::ALL.map(|r| view! { <option value=r.as_str()>{r.label()}</option> }).collect_view()}
            </select>
            {move || error.get().map(|e| view! { <p id="import-error" class="error">{e}</p> })}
        </div>
    }
}

/// What a pick yields: the run files' `(path, text)` (archives unpacked), notes on files skipped unread, and an
/// error per file that could not be imported (the others go on). Picked per-request files are not read here:
/// `streamed` holds them by path (their entries' texts are empty), to be read a slice at a time.
#[derive(Default)]
struct Picked {
    entries: Vec<(String, String)>,
    /// Files picked alone that are no run files: other tools' results, `(name, text)`.
    foreign: Vec<(String, String)>,
    streamed: Vec<(String, web_sys::File)>,
    notes: Vec<String>,
    errors: Vec<String>,
}

/// Reads the picked files that [`pick`] says to read, and nothing else; with `stream`, picked per-request files
/// are left to read a slice at a time.
async fn picked_entries(picked: &[web_sys::File], stream: bool) -> Picked {
    let known = RunFile::ALL.map(RunFile::file_name);
    let mut out = Picked::default();
    let streamed = if stream {
        StoredRecords::FILES.as_slice()
    } else {
        &[]
    };
    for file in picked {
        let name = file.name();
        let path = files::picked_path(file);
        let archive = |bytes: Vec<u8>, out: &mut Picked| match read_zip(&bytes) {
            Ok(unpacked) => out.entries.extend(unpacked),
            Err(e) => out.errors.push(format!("{name}: {e}")),
        };
        match pick(&name, &path, file.size() as u64, &known, streamed) {
            Pick::Skip(note) => out.notes.push(note),
            Pick::Refuse(error) => out.errors.push(error),
            Pick::Stream => {
                out.entries.push((path.clone(), String::new()));
                out.streamed.push((path, file.clone()));
            }
            Pick::Text => match files::read_text(file).await {
                Ok(text) => out.entries.push((path, text)),
                Err(e) => out.errors.push(format!("{path}: {e}")),
            },
            Pick::Foreign => match files::read_text(file).await {
                Ok(text) => out.foreign.push((name, text)),
                Err(e) => out.errors.push(format!("{path}: {e}")),
            },
            Pick::Archive => match files::read_bytes(file).await {
                Ok(bytes) => archive(bytes, &mut out),
                Err(e) => out.errors.push(format!("{path}: {e}")),
            },
            Pick::Sniff => match files::read_bytes(file).await {
                Ok(bytes) if bytes.starts_with(b"PK") => archive(bytes, &mut out),
                Ok(_) => out.errors.push(format!(
                    "{name} is not a run folder file (expected {}, or a .zip of run folders)",
                    known.join(", ")
                )),
                Err(e) => out.errors.push(format!("{path}: {e}")),
            },
        }
    }
    out
}

/// Reads the picked files (one run folder, several, a LoadTest folder, or `.zip` archives of them), recomputes
/// each run's statistics under `rules` ([`ImportRules::variants`]), and keeps them. Returns what the page should
/// say.
async fn import_files(
    picked: &[web_sys::File],
    rules: ImportRules,
    library: Library,
) -> Result<String, String> {
    // Merging needs every shard's records at once; any other import reads per-request files a slice at a time.
    let Picked {
        entries,
        foreign,
        streamed,
        mut notes,
        mut errors,
    } = picked_entries(picked, rules != ImportRules::Merge).await;
    let now = PerformanceClock::start().wall_time().to_rfc3339();
    let mut added = Vec::new();
    if !foreign.is_empty() {
        let named: Vec<(&str, &str)> = foreign.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        match read_foreign(&named) {
            Ok(runs) => {
                for run in runs {
                    notes.extend(run.bad.iter().map(|bad| format!("left out: {bad}")));
                    for (stats, label, described) in run.variants(rules) {
                        let mut saved = SavedRun::new(library.new_id(), run.files(&stats), stats, &now);
                        saved.name = format!("{} ({label})", run.name);
                        notes.push(format!("{}: {} requests", saved.name, run.records.len()));
                        saved.rules = Some(described);
                        added.push(saved);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let folders = group_run_folders(entries);
    if folders.is_empty() && !added.is_empty() {
        let count = added.len();
        added.into_iter().for_each(|run| library.add(run));
        let summary = format!(
            "{count} run{}: {}",
            if count == 1 { "" } else { "s" },
            notes.join("; ")
        );
        return match errors.is_empty() {
            true => Ok(summary),
            false => Err(format!("{} Imported: {summary}", errors.join(" "))),
        };
    }
    if folders.is_empty() {
        errors.push(
            "No run files were found (stats.json, responses.jsonl, run_config.json, summary.json).".into(),
        );
        return Err(errors.join(" "));
    }
    if rules == ImportRules::Merge {
        if !errors.is_empty() {
            return Err(format!("Nothing was merged: {}", errors.join(" ")));
        }
        let merged = merge_folder_files(&folders)?;
        let files = merged
            .files()
            .into_iter()
            .map(|(name, text)| (name.to_owned(), text))
            .collect();
        let mut run = SavedRun::new(library.new_id(), files, merged.stats, &now);
        run.name = format!("{} (merged from {} folders)", run.name, folders.len());
        let name = run.name.clone();
        library.add(run);
        return Ok(format!(
            "1 run: {name}, exactly as one run holding all {} requests",
            merged.records.len()
        ));
    }
    let mut guards = Vec::new();
    for folder in &folders {
        let named = |path: &str| match folder.folder.as_str() {
            "" => path.to_owned(),
            dir => format!("{dir}: {path}"),
        };
        let imported = match import_folder(folder, &streamed, rules, library).await {
            Ok(imported) => imported,
            Err(e) => {
                // One bad folder is named; the good ones are still kept.
                errors.push(named(&e));
                continue;
            }
        };
        for (loaded, label, described, stored) in imported.runs {
            let mut run = SavedRun::new(library.new_id(), imported.files.clone(), loaded.stats, &now);
            run.records = stored;
            if run.name == "run" && !folder.name().is_empty() {
                run.name = folder.name().to_owned();
            }
            run.name = format!("{} ({label})", run.name);
            run.rules = Some(described.clone());
            notes.push(format!("{}: recomputed with {described}", run.name));
            notes.extend(loaded.warnings.iter().map(|w| format!("warning: {w}")));
            added.push(run);
        }
        guards.extend(imported.guard);
    }
    let count = added.len();
    // Once every imported run is stored (writes to one store commit in order: the last one last), their records'
    // locks can go: start-up in another tab would no longer take them for orphans.
    let last = added.pop();
    for run in added {
        library.add(run);
    }
    if let Some(run) = last {
        library.add_then(run, move || drop(guards));
    }
    let summary = format!(
        "{} run{}: {}",
        count,
        if count == 1 { "" } else { "s" },
        notes.join("; ")
    );
    match errors.is_empty() {
        true => Ok(summary),
        // The good runs are kept; the page shows what was refused, and what was imported.
        false => Err(format!("{} Imported: {summary}", errors.join(" "))),
    }
}

/// One imported folder: its loaded run under each rule (with the sentence and label naming the rule, and where
/// its records are), the files the runs keep, and the lock on its stored records.
struct ImportedFolder {
    runs: Vec<(LoadedRun, &'static str, String, Option<StoredRecords>)>,
    files: Vec<(String, String)>,
    guard: Option<LockGuard>,
}

/// Imports one folder: its per-request lines are read a batch at a time (from the picked file, a slice at a time,
/// or from the archive's text), folded into its statistics under every rule at once, and stored in the record
/// store; only its small files stay in memory. Without storage, the lines stay with the runs.
async fn import_folder(
    folder: &FolderFiles,
    streamed: &[(String, web_sys::File)],
    rules: ImportRules,
    library: Library,
) -> Result<ImportedFolder, String> {
    let lines_of = |file: RunFile| -> Option<BlobLines> {
        let name = file.file_name();
        let path = match folder.folder.as_str() {
            "" => name.to_owned(),
            dir => format!("{dir}/{name}"),
        };
        match streamed.iter().find(|(p, _)| *p == path) {
            Some((_, picked)) => Some(BlobLines::new(picked.clone().into(), name)),
            None => folder
                .text(name)
                .and_then(|text| files::text_blob(text).ok())
                .map(|blob| BlobLines::new(blob, name)),
        }
    };
    let mut responses = lines_of(RunFile::Responses);
    let mut extras = lines_of(RunFile::TokenmeterResponses);
    let small: Vec<(String, String)> = folder
        .files
        .iter()
        .filter(|(name, _)| !StoredRecords::holds(name))
        .cloned()
        .collect();
    let saved = Files::from_named(&small)
        .stats
        .and_then(|text| read_stats(text).ok());
    let variants = rules.variants(saved.as_ref());
    let configs = variants.iter().map(|v| v.0.clone()).collect();
    let mut fold = ResponsesFold::new(configs, false).map_err(|e| e.to_string())?;
    let mut writer = responses.as_ref().and_then(|_| library.records_writer());
    // Without storage, the lines stay with the runs.
    let mut kept: Option<(String, String)> = None;
    let read = match responses.as_mut() {
        Some(responses) => {
            fold_lines(responses, extras.as_mut(), &mut fold, writer.as_mut(), &mut kept).await
        }
        None => Ok(()),
    };
    let mut files = small;
    if let Some((r, x)) = kept {
        files.push((RunFile::Responses.file_name().to_owned(), r));
        if extras.is_some() {
            files.push((RunFile::TokenmeterResponses.file_name().to_owned(), x));
        }
    }
    let loaded = read.and_then(|()| {
        fold.finish(&Files::from_named(&files), "run folder", None)
            .map_err(|e| e.to_string())
    });
    // What was stored goes again if the folder could not be imported.
    let (stored, guard) = match writer {
        Some(writer) if loaded.is_ok() && !writer.is_empty() => {
            let (stored, guard) = writer.finish();
            (Some(stored), guard)
        }
        Some(writer) => {
            writer.discard().await;
            (None, None)
        }
        None => (None, None),
    };
    let loaded = loaded?;
    let runs = loaded
        .into_iter()
        .zip(variants)
        .map(|(loaded, (_, label, described))| (loaded, label, described, stored.clone()))
        .collect();
    Ok(ImportedFolder { runs, files, guard })
}

/// Folds a folder's per-request lines into `fold` a batch at a time, each batch stored by `writer`, or kept in
/// `kept` without storage.
async fn fold_lines(
    responses: &mut BlobLines,
    mut extras: Option<&mut BlobLines>,
    fold: &mut ResponsesFold,
    mut writer: Option<&mut RecordsWriter>,
    kept: &mut Option<(String, String)>,
) -> Result<(), String> {
    // An empty responses.jsonl is a run of no requests, as LLMeter reads it.
    fold.add("", None).map_err(|e| e.to_string())?;
    while let Some(part) = responses.next(LINES_PER_BATCH).await? {
        let extra = match extras.as_deref_mut() {
            Some(extras) => extras.next(LINES_PER_BATCH).await?,
            None => None,
        };
        fold.add(&part, extra.as_deref()).map_err(|e| e.to_string())?;
        match writer.as_deref_mut() {
            Some(writer) => writer
                .put(part, extra)
                .await
                .map_err(|e| format!("its records could not be stored: {e}"))?,
            None => {
                let (r, x) = kept.get_or_insert_with(Default::default);
                r.push_str(&part);
                x.push_str(extra.as_deref().unwrap_or_default());
            }
        }
    }
    Ok(())
}

/// The selected runs side by side: the compared statistics and the percentile bars.
#[component]
pub(crate) fn Comparison(library: Library) -> impl IntoView {
    // A closure, not a memo: runs are shared, and comparing two lists would compare their files.
    let selected = move || library.selected();
    view! {
        <Show when=move || !selected().is_empty()>
            <h3>"Compare runs"</h3>
            {compared_table("comparison", selected, |r| r.name.clone(), |r| &r.stats)}
            <div id="charts" class="figures">
                {move || gallery(comparison_figures(&selected()))}
            </div>
        </Show>
    }
}

/// The compared statistics side by side, one column per item of `columns` (its name, its stats map); each cell
/// carries its `stats.json` key as `data-stat`. The selected runs' comparison and a race's live table.
fn compared_table<T: 'static>(
    id: &'static str,
    columns: impl Fn() -> Vec<T> + Copy + Send + Sync + 'static,
    name: fn(&T) -> String,
    stats: fn(&T) -> &Map<String, Value>,
) -> impl IntoView {
    view! {
        <div class="comparison-wrap">
        <table id=id class="comparison">
            <thead><tr><th></th>{move || columns().iter().map(|c| view! { <th>{name(c)}</th> }).collect_view()}</tr></thead>
            <tbody>
                {COMPARED.into_iter().map(|(label, key, unit)| view! {
                    <tr>
                        <th scope="row">{label}</th>
                        {move || columns().iter().map(|c| {
                            view! { <td data-stat=key.to_string()>{format_cell(key.get(stats(c)), unit)}</td> }
                        }).collect_view()}
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

/// The comparison's figures: TTFT and TTLT percentiles across `runs`.
pub(crate) fn comparison_figures(runs: &[Arc<SavedRun>]) -> Vec<Figure> {
    vec![
        chart(runs, "ttft-by-run", "TTFT", Metric::TimeToFirstToken),
        chart(runs, "ttlt-by-run", "TTLT", Metric::TimeToLastToken),
    ]
}

/// The percentile chart of `metric` across `runs`.
fn chart(runs: &[Arc<SavedRun>], id: &'static str, title: &str, metric: Metric) -> Figure {
    let stats: Vec<RunStats<'_>> = runs
        .iter()
        .map(|r| RunStats {
            name: &r.name,
            stats: &r.stats,
        })
        .collect();
    let title = format!("{title} p50/p90/p99 by run (ms)");
    let svg = percentiles_svg(&title, metric, &stats, FIGURE_SIZE);
    Figure::new(id, title, svg)
}

/// A race side by side while it goes on (the compared statistics of each target), then each target against the
/// first: the difference, its interval, and whether it is significant.
#[component]
pub(crate) fn RaceView(run: RunController) -> impl IntoView {
    view! {
        <Show when=move || !run.race_live.with(Vec::is_empty)>
            <h3>"Race"</h3>
            {compared_table("race-table", move || run.race_live.get(), |(name, _)| name.clone(), |(_, stats)| stats)}
            <ul id="race-comparison">
                {move || run.race_result.get().into_iter().map(|c| {
                    let significant = c.difference.is_significant();
                    view! { <li class:significant=significant data-significant=significant.to_string()>{c.sentence}</li> }
                }).collect_view()}
            </ul>
        </Show>
    }
}
