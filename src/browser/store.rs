//! Keeping runs across reloads: one IndexedDB object store of [`SavedRun`] JSON texts, keyed by id
//! (localStorage holds only a few megabytes; a run's responses can be far more). A write that does not fit
//! reports [`StoreError::Full`], so the page can drop the oldest runs and try again.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbObjectStoreParameters, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use crate::core::saved::SavedRun;

const DATABASE: &str = "tokenmeter";
const STORE: &str = "runs";
const VERSION: u32 = 1;

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
                if !db.object_store_names().contains(STORE) {
                    let params = IdbObjectStoreParameters::new();
                    params.set_key_path(&JsValue::from_str("id"));
                    let _ = db.create_object_store_with_optional_parameters(STORE, &params);
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
        let tx = self
            .db
            .transaction_with_str_and_mode(STORE, mode)
            .map_err(|e| error_of(&e))?;
        let store = tx.object_store(STORE).map_err(|e| error_of(&e))?;
        Ok((tx, store))
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
