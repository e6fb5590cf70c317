//! The figures worker binary (Trunk `data-type="worker"`): draws one run's per-run figures for the page, in a
//! module of its own so the engine's worker never links the charts. Natively it does nothing.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    tokenmeter::browser::figures_worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("tokenmeter-figures runs in the browser, started by the page.");
}
