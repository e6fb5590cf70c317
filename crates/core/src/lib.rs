//! Pure measurement core: time values, per-request records, metric definitions, statistics, plans, the
//! scheduler and result files.
//!
//! Must not import `protocol`, `engine`, `charts`, `browser` or `ui`, nor any web, async or clock API:
//! time, randomness and credentials arrive as arguments.

pub mod address_space;
pub mod budget;
pub mod checkpoint;
pub mod cold_check;
pub mod consent;
pub mod dataset;
pub mod dist;
pub mod experiments;
pub mod fan_out;
pub mod figure;
pub mod figure_data;
pub mod format;
pub mod input;
pub mod metrics;
pub mod page_health;
pub mod payload;
pub mod plan;
pub mod progress;
pub mod record;
pub mod report;
pub mod rng;
pub mod saved;
pub mod scheduler;
pub mod search;
pub mod secret;
pub mod server_metrics;
pub mod shard;
pub mod stats;
pub mod table;
pub mod target;
pub mod threshold;
pub mod time;
pub mod timeline;
pub mod tokenizer;
pub mod trace;
