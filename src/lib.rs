//! Tokenmeter: measure the latency and throughput of LLM endpoints from the browser, or natively with the
//! `tokenmeter` command.
//!
//! Each layer is its own crate under `crates/`, so the compiler enforces the direction of the arrows
//! (see `ARCHITECTURE.md`): `ui -> {browser, engine, charts, core}`, `browser -> engine -> {protocol, core}`,
//! `charts -> core`, and the command (`tokenmeter-cli`) `-> {engine, protocol, core}`.
//! This crate is the page's shell: `browser` and `ui` exist only on wasm32. It re-exports the layers under their
//! old names, so `tokenmeter::core::…` reads the same in the page, the tests and the benchmarks.

pub use tokenmeter_charts as charts;
pub use tokenmeter_core as core;
pub use tokenmeter_engine as engine;
pub use tokenmeter_protocol as protocol;

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod ui;
