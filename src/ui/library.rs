//! The runs the page keeps: every finished and imported run, stored in IndexedDB so they survive a reload, listed
//! with name, description, date and endpoint; renamed, deleted, selected for comparison, downloaded as a `.zip`,
//! or exported together as a LoadTest folder. When storage is full, the oldest runs make room for the newest.

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser::clock::PerformanceClock;
use crate::browser::files;
use crate::browser::locks;
use crate::browser::store::{RunStore, StoreError};
use crate::core::checkpoint::{recover, Liveness};
use crate::core::saved::{load_test_zip, oldest, SavedRun};
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
                    // Stored first, so the runs loaded next include them.
                    recover_checkpoints(&store, &library).await;
                    let mut stored = store.all().await.unwrap_or_default();
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
                    let _ = store.delete(&id).await;
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
        self.runs.update(|runs| runs.retain(|r| r.id != id));
        if self.focused.get_untracked().as_deref() == Some(id) {
            self.focused
                .set(self.runs.with_untracked(|r| r.last().map(|r| r.id.clone())));
        }
        if let Some(store) = self.store.get_value() {
            let (id, notice) = (id.to_owned(), self.notice);
            spawn_local(async move {
                if let Err(e) = store.delete(&id).await {
                    notice.set(Some(format!("The run could not be removed from storage: {e}.")));
                }
            });
        }
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

/// Runs a closed, reloaded or crashed tab left unfinished: their checkpointed records become runs marked
/// interrupted (stored, then their checkpoints deleted); the notice names them.
async fn recover_checkpoints(store: &RunStore, library: &Library) {
    let Ok(entries) = store.checkpoints().await else {
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
    let recovered = recover(entries, liveness);
    let mut names = Vec::new();
    for run in &recovered {
        if let Ok((files, stats)) = run.run() {
            let saved = SavedRun::new(library.new_id(), files, stats, &now.to_rfc3339());
            if store.put(&saved).await.is_ok() {
                names.push(saved.name.clone());
                let _ = store.delete_checkpoints(&run.keys).await;
            }
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
        let runs: Vec<&SavedRun> = selected.iter().map(|r| &**r).collect();
        let name = "tokenmeter-loadtest";
        match load_test_zip(name, &runs) {
            Ok(zip) => match files::download_bytes(&format!("{name}.zip"), &zip, "application/zip") {
                Ok(()) => error.set(None),
                Err(e) => error.set(Some(e)),
            },
            Err(e) => error.set(Some(e)),
        }
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
        move |_| match run.zip() {
            Ok(bytes) => {
                let name = format!("{}.zip", crate::core::format::archive::path_component(&run.name));
                if let Err(e) = files::download_bytes(&name, &bytes, "application/zip") {
                    error.set(Some(e));
                }
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    };
    let date = run.date.get(..19).unwrap_or(&run.date).replace('T', " ");
    view! {
        <tr data-run-id=id.clone() class:focused=focused>
            <td><input type="checkbox" class="select-run" prop:checked=run.selected
                on:change=move |ev| library.toggle(&toggle_id, event_target_checked(&ev)) /></td>
            <td><input class="run-name" prop:value=run.name.clone() aria-label="run name"
                on:change=move |ev| library.rename(&rename_id, event_target_value(&ev)) /></td>
            <td>{run.description.clone().unwrap_or_default()}</td>
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
