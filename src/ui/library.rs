//! The runs the page keeps: every finished and imported run, stored in IndexedDB so they survive a reload, listed
//! with name, description, date and endpoint; renamed, deleted, selected for comparison, downloaded as a `.zip`,
//! or exported together as a LoadTest folder. When storage is full, the oldest runs make room for the newest.

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser::clock::PerformanceClock;
use crate::browser::locks;
use crate::browser::store::{RunStore, StoreError};
use crate::browser::{export, files};
use crate::core::checkpoint::{batch_key, lock_name, run_name_of, triage, Entry, Liveness, RecordFold};
use crate::core::format::archive::path_component;
use crate::core::saved::{load_test_plan, oldest, SavedRun, StoredRecords};
use crate::core::stats::StatsConfig;
use crate::engine::Clock;

/// The page's runs, oldest first. Copyable handle. Runs are shared (`Arc`), never copied: a run's files can be
/// hundreds of megabytes.
#[derive(Clone, Copy)]
pub(crate) struct Library {
    pub(crate) runs: RwSignal<Vec<Arc<SavedRun>>>,
    /// The run whose figures are shown.
    pub(crate) focused: RwSignal<Option<String>>,
    /// What storage did that the user should know (full, unavailable).
    pub(crate) notice: RwSignal<Option<String>>,
    store: StoredValue<Option<Rc<RunStore>>, LocalStorage>,
    added: StoredValue<u64>,
}

impl Library {
    /// The library, loading the stored runs in the background.
    pub(crate) fn new() -> Library {
        let library = Library {
            runs: RwSignal::new(Vec::new()),
            focused: RwSignal::new(None),
            notice: RwSignal::new(None),
            store: StoredValue::new_local(None),
            added: StoredValue::new(0),
        };
        spawn_local(async move {
            match RunStore::open().await {
                Ok(store) => {
                    let stored = store.all().await.unwrap_or_default();
                    // Stored first, so the runs loaded next include them.
                    recover_checkpoints(&store, &library, &stored).await;
                    let mut stored = store.all().await.unwrap_or(stored);
                    stored.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.id.cmp(&b.id)));
                    library.store.set_value(Some(Rc::new(store)));
                    library.runs.update(|runs| {
                        // Runs finished before the store opened stay, after the stored ones.
                        let fresh = std::mem::take(runs);
                        *runs = stored.into_iter().map(Arc::new).collect();
                        runs.extend(fresh);
                    });
                    if library.focused.get_untracked().is_none() {
                        library
                            .focused
                            .set(library.runs.with_untracked(|r| r.last().map(|r| r.id.clone())));
                    }
                }
                Err(e) => library
                    .notice
                    .set(Some(format!("Runs are not kept across reloads: {e}."))),
            }
        });
        library
    }

    /// A new id, unique in this page's storage.
    pub(crate) fn new_id(&self) -> String {
        let n = self.added.get_value() + 1;
        self.added.set_value(n);
        let now = PerformanceClock::start().wall_time().timestamp_millis();
        format!("{now}-{n}")
    }

    /// Adds `run`, shows its figures, and stores it.
    pub(crate) fn add(&self, run: SavedRun) {
        self.add_then(run, || {});
    }

    /// Adds `run` as [`Library::add`] does, then calls `stored` once storing it was tried (the engine's
    /// checkpoint of its records can then go).
    pub(crate) fn add_then(&self, run: SavedRun, stored: impl FnOnce() + 'static) {
        let run = Arc::new(run);
        self.focused.set(Some(run.id.clone()));
        self.runs.update(|runs| runs.push(run.clone()));
        let library = *self;
        spawn_local(async move {
            library.persist(run).await;
            stored();
        });
    }

    /// Stores `run`; when storage is full, removes the oldest other runs until it fits (or none is left).
    async fn persist(self, run: Arc<SavedRun>) {
        let Some(store) = self.store.get_value() else {
            return;
        };
        let mut removed = Vec::new();
        loop {
            match store.put(&run).await {
                Ok(()) => break,
                Err(StoreError::Full) => {
                    let victim = self.runs.with_untracked(|runs| {
                        let others: Vec<&SavedRun> =
                            runs.iter().filter(|r| r.id != run.id).map(|r| &**r).collect();
                        oldest(others).map(|r| (r.id.clone(), r.name.clone()))
                    });
                    let Some((id, name)) = victim else {
                        self.notice.set(Some(format!(
                            "Storage is full: {} is shown but will not survive a reload (it is larger than the \
                             browser lets this page keep). Download it to keep it.",
                            run.name
                        )));
                        return;
                    };
                    // Its records too, unless another run shares them (an import under both rules).
                    let records = self.records_of(&id);
                    let _ = delete_stored(&store, &id, records.as_deref()).await;
                    self.runs.update(|runs| runs.retain(|r| r.id != id));
                    removed.push(name);
                }
                Err(e) => {
                    self.notice
                        .set(Some(format!("{} is not kept across reloads: {e}.", run.name)));
                    return;
                }
            }
        }
        if !removed.is_empty() {
            self.notice.set(Some(format!(
                "Storage was full: removed the oldest run{} ({}) to keep {}.",
                if removed.len() == 1 { "" } else { "s" },
                removed.join(", "),
                run.name
            )));
        }
    }

    /// Applies `change` to the run `id` and stores it again.
    /// Adds a file to each of the runs `ids` (a race's comparison, kept with every target's run) and stores them.
    pub(crate) fn attach_file(&self, ids: &[String], name: &str, text: &str) {
        for id in ids {
            self.update(id, |run| {
                let mut files = run.files.to_vec();
                files.retain(|(n, _)| n != name);
                files.push((name.to_owned(), text.to_owned()));
                run.files = Arc::new(files);
            });
        }
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut SavedRun)) {
        let mut changed = None;
        self.runs.update(|runs| {
            if let Some(run) = runs.iter_mut().find(|r| r.id == id) {
                change(Arc::make_mut(run));
                changed = Some(run.clone());
            }
        });
        if let (Some(run), Some(store)) = (changed, self.store.get_value()) {
            let notice = self.notice;
            spawn_local(async move {
                if let Err(e) = store.put(&run).await {
                    notice.set(Some(format!("The change to {} was not stored: {e}.", run.name)));
                }
            });
        }
    }

    pub(crate) fn rename(&self, id: &str, name: String) {
        let name = name.trim().to_owned();
        if !name.is_empty() {
            self.update(id, |r| r.name = name);
        }
    }

    pub(crate) fn toggle(&self, id: &str, selected: bool) {
        self.update(id, |r| r.selected = selected);
    }

    pub(crate) fn delete(&self, id: &str) {
        let records = self.records_of(id);
        self.runs.update(|runs| runs.retain(|r| r.id != id));
        if self.focused.get_untracked().as_deref() == Some(id) {
            self.focused
                .set(self.runs.with_untracked(|r| r.last().map(|r| r.id.clone())));
        }
        if let Some(store) = self.store.get_value() {
            let (id, notice) = (id.to_owned(), self.notice);
            spawn_local(async move {
                if let Err(e) = delete_stored(&store, &id, records.as_deref()).await {
                    notice.set(Some(format!("The run could not be removed from storage: {e}.")));
                }
            });
        }
    }

    /// The record-store key of run `id`'s records, if it has some there that no other run shares (an import
    /// under two rules keeps one copy).
    fn records_of(&self, id: &str) -> Option<String> {
        self.runs.with_untracked(|runs| {
            let key = runs
                .iter()
                .find(|r| r.id == id)
                .and_then(|r| r.records.as_ref().map(|k| k.key.clone()))?;
            let shared = runs
                .iter()
                .any(|r| r.id != id && r.records.as_ref().is_some_and(|k| k.key == key));
            (!shared).then_some(key)
        })
    }

    /// Starts moving an imported folder's per-request lines into the record store, batch by batch, so the run
    /// keeps only its small files in memory (and across reloads). `None` when storage is not available (the lines
    /// then stay with the run).
    pub(crate) fn records_writer(&self) -> Option<RecordsWriter> {
        let store = self.store()?;
        let key = format!("imported-{}", self.new_id());
        Some(RecordsWriter {
            guard: locks::hold(&lock_name(&key)),
            store,
            key,
            seq: 0,
            lines: 0,
            extras: false,
        })
    }

    /// The record store, once open.
    pub(crate) fn store(&self) -> Option<Rc<RunStore>> {
        self.store.get_value()
    }

    /// Downloads `run`'s files whose name `wanted` accepts, each streamed from where it is (the record store for
    /// a run's per-request files), never built whole in the page's memory.
    pub(crate) async fn download_files(
        &self,
        run: &SavedRun,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let store = self.store();
        for (name, source) in run.sources().into_iter().filter(|(n, _)| wanted(n)) {
            let mime = if name.ends_with(".jsonl") {
                "application/x-ndjson"
            } else {
                "application/json"
            };
            let blob = export::file_blob(store.as_deref(), source, mime).await?;
            files::download_blob(&name, &blob)?;
        }
        Ok(())
    }

    /// Downloads `run` as one `.zip` (`{run_name}/{file}`), streamed.
    pub(crate) async fn download_zip(&self, run: &SavedRun) -> Result<(), String> {
        let blob = export::zip_blob(self.store().as_deref(), run.zip_plan()).await?;
        files::download_blob(&format!("{}.zip", path_component(&run.name)), &blob)
    }

    /// Downloads `runs` as one LoadTest `.zip` named `name` (LLMeter's layout), streamed.
    pub(crate) async fn download_load_test(&self, name: &str, runs: &[Arc<SavedRun>]) -> Result<(), String> {
        let runs: Vec<&SavedRun> = runs.iter().map(|r| &**r).collect();
        let plan = load_test_plan(name, &runs)?;
        let blob = export::zip_blob(self.store().as_deref(), plan).await?;
        files::download_blob(&format!("{name}.zip"), &blob)
    }

    /// The runs selected for comparison.
    pub(crate) fn selected(&self) -> Vec<Arc<SavedRun>> {
        self.runs
            .with(|runs| runs.iter().filter(|r| r.selected).cloned().collect())
    }

    /// The run whose figures are shown.
    pub(crate) fn focused_run(&self) -> Option<Arc<SavedRun>> {
        let id = self.focused.get()?;
        self.runs.with(|runs| runs.iter().find(|r| r.id == id).cloned())
    }
}

/// Deletes stored run `id` and its records in the record store (`records`, their key).
async fn delete_stored(store: &RunStore, id: &str, records: Option<&str>) -> Result<(), StoreError> {
    store.delete(id).await?;
    match records {
        Some(key) => store.delete_checkpoint_of(key).await,
        None => Ok(()),
    }
}

/// Runs a closed, reloaded or crashed tab left unfinished: their stored records become runs marked interrupted
/// (statistics folded batch by batch, the records left where they are); the notice names them. Heartbeats of runs
/// already stored, and records no run holds, go. `stored` are the runs in storage.
async fn recover_checkpoints(store: &RunStore, library: &Library, stored: &[SavedRun]) {
    let Ok(listing) = store.listing().await else {
        return;
    };
    let now = PerformanceClock::start().wall_time();
    let held = locks::held().await;
    let liveness = match &held {
        Some(held) => Liveness::Locks(held),
        None => Liveness::Heartbeats {
            now_ms: now.timestamp_micros() as f64 / 1e3,
        },
    };
    let kept = |key: &str| {
        stored
            .iter()
            .any(|r| r.records.as_ref().is_some_and(|k| k.key == key))
    };
    let triage = triage(&listing, &liveness, &kept);
    for run in &triage.stale_heartbeats {
        let _ = store.delete_heartbeat(run).await;
    }
    for run in &triage.orphaned {
        let _ = store.delete_checkpoint_of(run).await;
    }
    let mut names = Vec::new();
    for key in triage.recover {
        let Ok(mut fold) = RecordFold::new(StatsConfig::default()) else {
            continue;
        };
        let read = store
            .each_read(&key, 8, |batches| {
                batches.iter().try_for_each(|b| {
                    fold.add(&String::from(&b.responses), &String::from(&b.extras))
                        .map_err(|e| e.to_string())
                })
            })
            .await;
        if read.is_err() {
            continue;
        }
        let lines = fold.lines();
        let (files, stats) = fold.interrupted(run_name_of(&key));
        let mut saved = SavedRun::new(library.new_id(), files, stats, &now.to_rfc3339());
        saved.records = Some(StoredRecords {
            key: key.clone(),
            lines,
            stopped: None,
            extras: true,
        });
        if store.put(&saved).await.is_ok() {
            names.push(saved.name.clone());
            let _ = store.delete_heartbeat(&key).await;
        }
    }
    if !names.is_empty() {
        library.notice.set(Some(format!(
            "Recovered from a closed or reloaded tab, with every request that had finished: {}.",
            names.join(", ")
        )));
    }
}

/// The results list: one row per kept run.
#[component]
pub(crate) fn RunsList(library: Library) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let export_sweep = move |_| {
        let selected = library.selected();
        spawn_local(async move {
            let saved = library.download_load_test("tokenmeter-loadtest", &selected).await;
            error.set(saved.err());
        });
    };
    view! {
        <Show when=move || !library.runs.with(Vec::is_empty)>
            <h3>"Runs"</h3>
            <div class="results-list-wrap">
            <table id="results-list" class="results-list">
                <thead><tr><th>"Compare"</th><th>"Name"</th><th>"Description"</th><th>"Date"</th><th>"Endpoint"</th><th></th></tr></thead>
                <tbody>
                    <For each=move || library.runs.get() key=|r| (r.id.clone(), r.name.clone(), r.selected) let:run>
                        {row(library, run, error)}
                    </For>
                </tbody>
            </table>
            </div>
            <div class="controls">
                <button id="export-sweep" on:click=export_sweep>"Download selected as LoadTest (.zip)"</button>
            </div>
        </Show>
        {move || library.notice.get().map(|n| view! { <p id="storage-notice" class="warning">{n}</p> })}
        {move || error.get().map(|e| view! { <p id="results-error" class="error">{e}</p> })}
    }
}

fn row(library: Library, run: Arc<SavedRun>, error: RwSignal<Option<String>>) -> impl IntoView {
    let id = run.id.clone();
    let (toggle_id, rename_id, delete_id, focus_id) = (id.clone(), id.clone(), id.clone(), id.clone());
    let focused = {
        let id = id.clone();
        move || library.focused.get().as_deref() == Some(id.as_str())
    };
    let zip = {
        let run = run.clone();
        move |_| {
            let run = run.clone();
            spawn_local(async move {
                if let Err(e) = library.download_zip(&run).await {
                    error.set(Some(e));
                }
            });
        }
    };
    let date = run.date.get(..19).unwrap_or(&run.date).replace('T', " ");
    view! {
        <tr data-run-id=id.clone() class:focused=focused>
            <td><input type="checkbox" class="select-run" prop:checked=run.selected
                on:change=move |ev| library.toggle(&toggle_id, event_target_checked(&ev)) /></td>
            <td><input class="run-name" prop:value=run.name.clone() aria-label="run name"
                on:change=move |ev| library.rename(&rename_id, event_target_value(&ev)) /></td>
            // An imported run says whose numbers it holds, and how that tool defines them.
            <td>{run.description.clone().unwrap_or_default()}
                {run.rules.clone().map(|r| view! { <small class="run-rules">{r}</small> })}</td>
            <td>{date}</td>
            <td>{run.endpoint.clone()}</td>
            <td class="row-actions">
                <button class="show-figures" on:click=move |_| library.focused.set(Some(focus_id.clone()))>"Figures"</button>
                <button class="download-zip" on:click=zip>".zip"</button>
                <button class="delete-run" on:click=move |_| library.delete(&delete_id)>"Delete"</button>
            </td>
        </tr>
    }
}

/// An imported folder's per-request lines going into the record store, with the lock that keeps another tab's
/// start-up from taking them for orphans until the run is stored.
pub(crate) struct RecordsWriter {
    store: Rc<RunStore>,
    key: String,
    guard: Option<locks::LockGuard>,
    seq: u64,
    lines: u64,
    extras: bool,
}

impl RecordsWriter {
    /// Stores the next batch: lines of `responses.jsonl` and the same of `tokenmeter_responses.jsonl`, if any.
    pub(crate) async fn put(&mut self, responses: String, extras: Option<String>) -> Result<(), StoreError> {
        self.lines += responses.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        self.extras |= extras.is_some();
        let batch = Entry::Batch {
            key: batch_key(&self.key, self.seq),
            responses,
            extras: extras.unwrap_or_default(),
        };
        self.seq += 1;
        self.store.put_checkpoint(&batch).await
    }

    /// Whether no batch was stored (an empty file).
    pub(crate) fn is_empty(&self) -> bool {
        self.seq == 0
    }

    /// Where the lines are, with the lock to drop once the runs that hold them are stored.
    pub(crate) fn finish(self) -> (StoredRecords, Option<locks::LockGuard>) {
        let records = StoredRecords {
            key: self.key,
            lines: self.lines,
            stopped: None,
            extras: self.extras,
        };
        (records, self.guard)
    }

    /// Deletes what was stored (the import of its folder failed).
    pub(crate) async fn discard(self) {
        let _ = self.store.delete_checkpoint_of(&self.key).await;
    }
}
