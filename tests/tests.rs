//! The native integration test binary: each module is one area. Native only: it reads fixtures from disk.
#![cfg(not(target_arch = "wasm32"))]

mod archive;
mod aws;
mod cli;
mod engine;
mod foreign;
mod format;
mod fuzz;
mod live;
mod merge;
mod protocol;
mod scheduler;
mod session;
mod tidy;
mod util;
