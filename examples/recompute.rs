//! Recomputes stats.json from a run folder (filled in with core::format).
fn main() {}
