//! Keeping runs across reloads: one IndexedDB object store of [`SavedRun`] JSON texts, keyed by id
//! (localStorage holds only a few megabytes; a run's responses can be far more), and the record store of
//! per-request lines in batches, which the engine's worker fills as a run goes. A write that does not fit
//! reports [`StoreError::Full`], so the page can drop the oldest runs and try again.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbObjectStoreParameters, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use crate::core::checkpoint::{
    batch_key_range, figures_key, heartbeat_key, run_of_figures, run_of_heartbeat, Entry, Listing,
};
use crate::core::saved::SavedRun;

const DATABASE: &str = "tokenmeter";
const STORE: &str = "runs";
/// The record store: every run's finished records in batches (`core::checkpoint`), written by the engine's worker
/// as the run goes and kept as the run's records once it is stored (`SavedRun::records`).
const CHECKPOINTS: &str = "checkpoints";

/// One stored batch: its key, and its lines as JavaScript strings.
pub struct StoredBatch {
    pub key: String,
    pub responses: js_sys::JsString,
    pub extras: js_sys::JsString,
}
const VERSION: u32 = 2;

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The browser's storage quota is used up.
    Full,
    /// IndexedDB is missing or refused (a private window may refuse it).
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Full => write!(f, "the browser's storage for this page is full"),
            StoreError::Unavailable(why) => write!(f, "the browser's storage is not available ({why})"),
        }
    }
}

fn error_of(value: &JsValue) -> StoreError {
    let name = js_sys::Reflect::get(value, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    if name == "QuotaExceededError" {
        return StoreError::Full;
    }
    let message = js_sys::Reflect::get(value, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{value:?}"));
    StoreError::Unavailable(format!("{name}: {message}"))
}

/// Resolves when `request` succeeds (with its result), rejects with its error.
async fn settle(request: &IdbRequest) -> Result<JsValue, StoreError> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let target = request.clone();
        let ok = Closure::once_into_js(move |_: JsValue| {
            let _ = resolve.call1(&JsValue::NULL, &target.result().unwrap_or(JsValue::UNDEFINED));
        });
        let target = request.clone();
        let failed = Closure::once_into_js(move |_: JsValue| {
            let error = target
                .error()
                .ok()
                .flatten()
                .map(JsValue::from)
                .unwrap_or(JsValue::NULL);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        request.set_onsuccess(Some(ok.unchecked_ref()));
        request.set_onerror(Some(failed.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(|e| error_of(&e))
}

/// The page's run store.
pub struct RunStore {
    db: IdbDatabase,
}

impl RunStore {
    /// Opens (creating on first use) the page's database.
    pub async fn open() -> Result<RunStore, StoreError> {
        let factory = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
            .ok()
            .filter(|f| !f.is_undefined() && !f.is_null())
            .ok_or_else(|| StoreError::Unavailable("no IndexedDB".into()))?
            .unchecked_into::<web_sys::IdbFactory>();
        let request: IdbOpenDbRequest = factory
            .open_with_u32(DATABASE, VERSION)
            .map_err(|e| error_of(&e))?;
        let upgrade = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let request: IdbOpenDbRequest = js_sys::Reflect::get(&event, &JsValue::from_str("target"))
                .map(JsCast::unchecked_into)
                .expect("an upgrade event has a target");
            if let Ok(db) = request.result().map(JsCast::unchecked_into::<IdbDatabase>) {
                for (name, key) in [(STORE, "id"), (CHECKPOINTS, "key")] {
                    if !db.object_store_names().contains(name) {
                        let params = IdbObjectStoreParameters::new();
                        params.set_key_path(&JsValue::from_str(key));
                        let _ = db.create_object_store_with_optional_parameters(name, &params);
                    }
                }
            }
        });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let db = settle(&request).await?;
        drop(upgrade);
        Ok(RunStore {
            db: db.unchecked_into(),
        })
    }

    fn store(
        &self,
        mode: IdbTransactionMode,
    ) -> Result<(web_sys::IdbTransaction, web_sys::IdbObjectStore), StoreError> {
        self.store_named(STORE, mode)
    }

    fn store_named(
        &self,
        name: &str,
        mode: IdbTransactionMode,
    ) -> Result<(web_sys::IdbTransaction, web_sys::IdbObjectStore), StoreError> {
        let tx = self
            .db
            .transaction_with_str_and_mode(name, mode)
            .map_err(|e| error_of(&e))?;
        let store = tx.object_store(name).map_err(|e| error_of(&e))?;
        Ok((tx, store))
    }

    /// Writes one checkpoint entry (a batch of records, or a heartbeat).
    pub async fn put_checkpoint(&self, entry: &Entry) -> Result<(), StoreError> {
        let (tx, store) = self.store_named(CHECKPOINTS, IdbTransactionMode::Readwrite)?;
        let value = js_sys::Object::new();
        let set = |name: &str, v: JsValue| js_sys::Reflect::set(&value, &JsValue::from_str(name), &v).ok();
        set("key", JsValue::from_str(entry.key()));
        match entry {
            Entry::Batch {
                responses, extras, ..
            } => {
                set("responses", JsValue::from_str(responses));
                set("extras", JsValue::from_str(extras));
            }
            Entry::Heartbeat { at_ms, .. } => {
                set("at_ms", JsValue::from_f64(*at_ms));
            }
            Entry::Figures { json, .. } => {
                set("figures", JsValue::from_str(json));
            }
        }
        let request = store.put(&value).map_err(|e| error_of(&e))?;
        settle(&request).await?;
        committed(&tx).await
    }

    /// What the record store holds, without reading a batch: every key, and each heartbeat's time.
    pub async fn listing(&self) -> Result<Listing, StoreError> {
        let (_tx, store) = self.store_named(CHECKPOINTS, IdbTransactionMode::Readonly)?;
        let request = store.get_all_keys().map_err(|e| error_of(&e))?;
        let keys: js_sys::Array = settle(&request).await?.unchecked_into();
        let mut listing = Listing::default();
        for key in keys.iter().filter_map(|k| k.as_string()) {
            if let Some(run) = run_of_figures(&key) {
                listing.figures.push(run.to_owned());
                continue;
            }
            match run_of_heartbeat(&key) {
                Some(run) => {
                    let (_tx, store) = self.store_named(CHECKPOINTS, IdbTransactionMode::Readonly)?;
                    let request = store.get(&JsValue::from_str(&key)).map_err(|e| error_of(&e))?;
                    let at_ms = js_sys::Reflect::get(&settle(&request).await?, &JsValue::from_str("at_ms"))
                        .ok()
                        .and_then(|a| a.as_f64())
                        .unwrap_or(0.0);
                    listing.heartbeats.push((run.to_owned(), at_ms));
                }
                None => listing.batches.push(key),
            }
        }
        Ok(listing)
    }

    /// Up to `limit` of run `run_key`'s batches, in write order, after the batch keyed `after` (from the first
    /// without). Their texts stay JavaScript strings, so an export can hand them to a Blob without copying them
    /// into the page's memory.
    async fn batches(
        &self,
        run_key: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredBatch>, StoreError> {
        let (_tx, store) = self.store_named(CHECKPOINTS, IdbTransactionMode::Readonly)?;
        let (first, last) = batch_key_range(run_key);
        let range = match after {
            Some(after) => web_sys::IdbKeyRange::bound_with_lower_open_and_upper_open(
                &JsValue::from_str(after),
                &JsValue::from_str(&last),
                true,
                false,
            ),
            None => web_sys::IdbKeyRange::bound(&JsValue::from_str(&first), &JsValue::from_str(&last)),
        }
        .map_err(|e| error_of(&e))?;
        let request = store
            .get_all_with_key_and_limit(&range, limit)
            .map_err(|e| error_of(&e))?;
        let values: js_sys::Array = settle(&request).await?.unchecked_into();
        let field = |v: &JsValue, name: &str| {
            js_sys::Reflect::get(v, &JsValue::from_str(name))
                .ok()
                .filter(|f| f.is_string())
        };
        Ok(values
            .iter()
            .filter_map(|v| {
                Some(StoredBatch {
                    key: field(&v, "key")?.as_string()?,
                    responses: field(&v, "responses")?.unchecked_into(),
                    extras: field(&v, "extras")
                        .map(JsCast::unchecked_into)
                        .unwrap_or_else(|| js_sys::JsString::from("")),
                })
            })
            .collect())
    }

    /// Reads run `run_key`'s batches in write order, `per_read` at a time, handing each read to `each`; the first
    /// error (the store's, or `each`'s) ends it.
    pub async fn each_read(
        &self,
        run_key: &str,
        per_read: u32,
        mut each: impl FnMut(&[StoredBatch]) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut after: Option<String> = None;
        loop {
            let batches = self
                .batches(run_key, after.as_deref(), per_read)
                .await
                .map_err(|e| format!("the run's records could not be read: {e}"))?;
            let Some(last) = batches.last() else {
                return Ok(());
            };
            after = Some(last.key.clone());
            each(&batches)?;
        }
    }

    /// Deletes run `run_key`'s heartbeat: the run is stored, its batches are its records now.
    pub async fn delete_heartbeat(&self, run_key: &str) -> Result<(), StoreError> {
        let (tx, store) = self.store_named(CHECKPOINTS, IdbTransactionMode::Readwrite)?;
        store
            .delete(&JsValue::from_str(&heartbeat_key(run_key)))
            .map_err(|e| error_of(&e))?;
        committed(&tx).await
    }

    /// Deletes every entry of run `run_key` (its records, figure data and heartbeat) by key range, without reading them: a
    /// deleted run's records, or a checkpoint whose run kept its records in its files.
    pub async fn delete_checkpoint_of(&self, run_key: &str) -> Result<(), StoreError> {
        let (tx, store) = self.store_named(CHECKPOINTS, IdbTransactionMode::Readwrite)?;
        let (first, last) = batch_key_range(run_key);
        let batches = web_sys::IdbKeyRange::bound(&JsValue::from_str(&first), &JsValue::from_str(&last))
            .map_err(|e| error_of(&e))?;
        store.delete(&batches).map_err(|e| error_of(&e))?;
        for key in [heartbeat_key(run_key), figures_key(run_key)] {
            store.delete(&JsValue::from_str(&key)).map_err(|e| error_of(&e))?;
        }
        committed(&tx).await
    }

    /// Run `run_key`'s figure data (JSON), if it was kept.
    pub async fn figure_data(&self, run_key: &str) -> Result<Option<String>, StoreError> {
        let (_tx, store) = self.store_named(CHECKPOINTS, IdbTransactionMode::Readonly)?;
        let request = store
            .get(&JsValue::from_str(&figures_key(run_key)))
            .map_err(|e| error_of(&e))?;
        let value = settle(&request).await?;
        Ok(js_sys::Reflect::get(&value, &JsValue::from_str("figures"))
            .ok()
            .and_then(|json| json.as_string()))
    }

    /// Every stored run, unordered; runs that cannot be read are skipped.
    pub async fn all(&self) -> Result<Vec<SavedRun>, StoreError> {
        let (_tx, store) = self.store(IdbTransactionMode::Readonly)?;
        let request = store.get_all().map_err(|e| error_of(&e))?;
        let values: js_sys::Array = settle(&request).await?.unchecked_into();
        Ok(values
            .iter()
            .filter_map(|v| js_sys::Reflect::get(&v, &JsValue::from_str("json")).ok())
            .filter_map(|json| json.as_string())
            .filter_map(|json| SavedRun::from_json(&json).ok())
            .collect())
    }

    /// Stores `run` (replacing one with its id), and waits until the write is committed.
    pub async fn put(&self, run: &SavedRun) -> Result<(), StoreError> {
        let (tx, store) = self.store(IdbTransactionMode::Readwrite)?;
        let value = js_sys::Object::new();
        js_sys::Reflect::set(&value, &JsValue::from_str("id"), &JsValue::from_str(&run.id)).ok();
        js_sys::Reflect::set(
            &value,
            &JsValue::from_str("json"),
            &JsValue::from_str(&run.to_json()),
        )
        .ok();
        // A quota error can come from `put` itself, from its request, or only when the transaction commits.
        let request = store.put(&value).map_err(|e| error_of(&e))?;
        settle(&request).await?;
        committed(&tx).await
    }

    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let (tx, store) = self.store(IdbTransactionMode::Readwrite)?;
        let request = store.delete(&JsValue::from_str(id)).map_err(|e| error_of(&e))?;
        settle(&request).await?;
        committed(&tx).await
    }
}

/// Asks the browser to keep this page's storage under pressure (`navigator.storage.persist()`), so a long run's
/// records are not evicted with the cache; the browser may grant it silently, ask, or refuse. Fire and forget.
pub fn ask_persistent_storage() {
    let persist = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"storage".into()))
        .and_then(|storage| {
            let persist = js_sys::Reflect::get(&storage, &"persist".into())?;
            Ok((storage, persist))
        });
    if let Ok((storage, persist)) = persist {
        if let Some(persist) = persist.dyn_ref::<js_sys::Function>() {
            let _ = persist.call0(&storage);
        }
    }
}

/// Resolves when `tx` commits; an aborted transaction (a quota error at commit) is its error.
async fn committed(tx: &web_sys::IdbTransaction) -> Result<(), StoreError> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move |_: JsValue| {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let target = tx.clone();
        let failed = Closure::once_into_js(move |_: JsValue| {
            let error = target.error().map(JsValue::from).unwrap_or(JsValue::NULL);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        tx.set_oncomplete(Some(ok.unchecked_ref()));
        tx.set_onabort(Some(failed.unchecked_ref()));
    });
    JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(|e| error_of(&e))
}
