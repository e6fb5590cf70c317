//! Tokenmeter: measure the latency and throughput of LLM endpoints from the browser.
//!
//! The layers point one way (see `ARCHITECTURE.md`):
//! `ui -> {browser, engine, charts, core}`, `browser -> engine -> {protocol, core}`, `charts -> core`.
//! `core`, `protocol`, `engine` and `charts` are plain Rust that compiles natively and is tested with `cargo test`;
//! `browser` and `ui` exist only on wasm32.

pub mod charts;
pub mod core;
pub mod engine;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod ui;
