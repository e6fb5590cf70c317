//! Browser adapters for the engine's ports: `fetch` with a streamed body ([`fetch::FetchTransport`]) and
//! `performance.now()` time ([`clock::PerformanceClock`]). wasm32 only.
//!
//! Holds no measurement logic and parses no protocol: it stamps and forwards bytes. Uses only globals that exist
//! in both a window and a Web Worker, so the engine can later move into a worker unchanged.

pub mod checkpointer;
pub mod clock;
pub mod command;
pub mod engine_worker;
pub mod export;
pub mod fetch;
pub mod figures_worker;
pub mod files;
pub mod js;
pub mod local_network;
pub mod locks;
pub mod raster;
pub mod store;
pub mod tokenizer_client;
pub mod tokenizer_worker;
pub mod worker;
