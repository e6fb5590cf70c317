//! The tokenizer's Web Worker binary (Trunk `data-type="worker"`): a module of its own that the engine's worker
//! starts only when a run names a tokenizer, so neither the page nor the engine carries the BPE. Natively it does
//! nothing.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    tokenmeter::browser::tokenizer_worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("tokenmeter-tokenizer runs in the browser, started by the engine's worker.");
}
