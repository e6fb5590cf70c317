//! Local Network Access (Chrome 142 and later): a page on a public origin must be granted the permission before it
//! reaches this machine or a private network, and the permission prompt can only come from the page itself, not
//! from the engine's worker. So before a run to such a target, the page sends one untimed `fetch` there, marked
//! with `targetAddressSpace` (which also lets an HTTPS page call a plain-HTTP local server): the browser asks, and
//! the worker's requests then pass. Where the page is not public the fetch simply passes.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, RequestMode};

use crate::core::address_space::AddressSpace;

/// Marks a request's init for `space` (Chromium reads `targetAddressSpace`; other browsers ignore it).
pub fn mark(init: &RequestInit, space: AddressSpace) {
    let _ = js_sys::Reflect::set(
        init,
        &JsValue::from_str("targetAddressSpace"),
        &JsValue::from_str(space.as_str()),
    );
}

/// Asks for the permission (if the browser wants one) by fetching `origin` from the page. Only a refused
/// permission is an error (explained, with how to undo it); a server that is down is left to the run to report.
pub async fn request_access(origin: &str, space: AddressSpace) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = RequestInit::new();
    init.set_method("GET");
    // CORS mode: a cross-origin-isolated page (COEP) blocks an opaque no-cors response.
    init.set_mode(RequestMode::Cors);
    mark(&init, space);
    let promise = window.fetch_with_str_and_init(origin, &init);
    if JsFuture::from(promise).await.is_ok() || permission_state(&window).await.as_deref() != Some("denied") {
        return Ok(());
    }
    Err(format!(
        "The browser's Local Network Access permission for this site is refused, so this page may not reach \
         {origin} ({}). Allow \"Local network access\" in this site's settings (the icon left of the address → Site \
         settings), then press Run again.",
        match space {
            AddressSpace::Loopback => "this machine",
            AddressSpace::Local => "a private network",
        }
    ))
}

/// `navigator.permissions.query({name: "local-network-access"})`'s state, where the browser knows the name.
async fn permission_state(window: &web_sys::Window) -> Option<String> {
    let permissions = js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("permissions")).ok()?;
    let query: js_sys::Function = js_sys::Reflect::get(&permissions, &JsValue::from_str("query"))
        .ok()?
        .dyn_into()
        .ok()?;
    let descriptor = js_sys::Object::new();
    js_sys::Reflect::set(
        &descriptor,
        &JsValue::from_str("name"),
        &JsValue::from_str("local-network-access"),
    )
    .ok()?;
    let promise: js_sys::Promise = query.call1(&permissions, &descriptor).ok()?.dyn_into().ok()?;
    let status = JsFuture::from(promise).await.ok()?;
    js_sys::Reflect::get(&status, &JsValue::from_str("state"))
        .ok()?
        .as_string()
}
