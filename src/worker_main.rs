//! The engine's Web Worker binary (Trunk `data-type="worker"`): on wasm32 it starts listening for the page's run
//! requests; Leptos is not linked into it. Natively it does nothing.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    tokenmeter::browser::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("tokenmeter-worker runs in the browser, started by the page.");
}
