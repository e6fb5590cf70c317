//! Benchmarks of the statistics core (filled in with RunningStats).
fn main() {}
