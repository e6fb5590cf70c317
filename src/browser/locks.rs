//! Web Locks (`navigator.locks`), in a window and in a worker alike: the engine's worker holds a run's lock while
//! its checkpoint is live, and the browser releases it the moment the tab closes or crashes, so a page starting up
//! knows exactly which checkpoints no tab is writing any more.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn locks() -> Option<JsValue> {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok()?;
    let locks = js_sys::Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then_some(locks)
}

fn method(object: &JsValue, name: &str) -> Option<js_sys::Function> {
    js_sys::Reflect::get(object, &JsValue::from_str(name))
        .ok()?
        .dyn_into()
        .ok()
}

/// A held lock, released when dropped.
pub struct LockGuard {
    release: js_sys::Function,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}

/// Takes the exclusive lock `name` (granted at once: each run has its own), or `None` without Web Locks.
pub fn hold(name: &str) -> Option<LockGuard> {
    let locks = locks()?;
    let mut release = None;
    let held = js_sys::Promise::new(&mut |resolve, _| release = Some(resolve));
    let callback = wasm_bindgen::closure::Closure::once_into_js(move |_: JsValue| JsValue::from(held));
    method(&locks, "request")?
        .call2(&locks, &JsValue::from_str(name), &callback)
        .ok()?;
    Some(LockGuard { release: release? })
}

/// The names of every lock held now (by any tab or worker of this origin), or `None` without Web Locks.
pub async fn held() -> Option<Vec<String>> {
    let locks = locks()?;
    let promise: js_sys::Promise = method(&locks, "query")?.call0(&locks).ok()?.dyn_into().ok()?;
    let snapshot = JsFuture::from(promise).await.ok()?;
    let held: js_sys::Array = js_sys::Reflect::get(&snapshot, &JsValue::from_str("held"))
        .ok()?
        .dyn_into()
        .ok()?;
    Some(
        held.iter()
            .filter_map(|lock| {
                js_sys::Reflect::get(&lock, &JsValue::from_str("name"))
                    .ok()?
                    .as_string()
            })
            .collect(),
    )
}
