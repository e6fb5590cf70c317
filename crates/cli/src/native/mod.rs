//! The native engine: the page's engine (`engine::session`) over a native HTTP transport and clock. Each shard runs
//! on its own thread with its own single-threaded runtime (the engine's futures are not `Send`, as in a browser),
//! so N shards use N cores; every message goes to the command's collector, as a page's would.
//!
//! This module and [`clock`] are the command's clock adapter: the only code outside `browser/` that reads a clock.

pub mod clock;
pub mod http;

use std::thread::JoinHandle;

use tokio::sync::{mpsc, watch};

use tokenmeter_core::format::ClockInfo;
use tokenmeter_engine::remote::{FromEngine, RunRequest};
use tokenmeter_engine::session::{run_session, ClientProfile, Controls, Runtime};
use tokenmeter_engine::Clock;

use self::clock::NativeClock;
use self::http::NativeHttp;

/// A shard's message, tagged with the shard.
pub type ShardMessage = (usize, FromEngine);

struct NativeRuntime {
    start: NativeClock,
}

impl Runtime for NativeRuntime {
    type Clock = NativeClock;
    type Http = NativeHttp;

    fn clock(&self) -> NativeClock {
        NativeClock::start()
    }

    fn http(&self, clock: &NativeClock) -> NativeHttp {
        NativeHttp::new(*clock)
    }

    /// A native clock resolves nanoseconds; the page's isolation question does not arise.
    fn clock_info(&self) -> Option<ClockInfo> {
        None
    }

    fn platform_now_ms(&self) -> f64 {
        self.start.now().as_nanos() as f64 / 1e6
    }

    fn profile(&self) -> ClientProfile {
        ClientProfile::NATIVE
    }
}

/// The stack of a shard's thread.
const SHARD_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Starts shard `index` on its own thread: it runs `request` to its end, sending every message to `messages`,
/// and stops (requests in flight end as cancelled) once `stop` turns true.
pub fn spawn_shard(
    index: usize,
    request: RunRequest,
    mut stop: watch::Receiver<bool>,
    messages: mpsc::UnboundedSender<ShardMessage>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("tokenmeter-shard-{index}"))
        // A session's future nests whole runs (a search's steps, a race's targets); unoptimised builds give each
        // poll large frames, which the default 2 MiB does not hold.
        .stack_size(SHARD_STACK_BYTES)
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = messages.send((index, ended_with(format!("the shard's runtime failed: {e}"))));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let controls = Controls::default();
                let engine = NativeRuntime {
                    start: NativeClock::start(),
                };
                let emit = |message: FromEngine| {
                    let _ = messages.send((index, message));
                };
                let session = run_session(&engine, request, &controls, &emit);
                let stopper = async {
                    while !*stop.borrow() {
                        if stop.changed().await.is_err() {
                            // The command is gone: nothing to report to; stop.
                            break;
                        }
                    }
                    controls.cancel.cancel();
                    std::future::pending::<()>().await;
                };
                tokio::select! {
                    () = session => {}
                    () = stopper => {}
                }
            });
        })
}

fn ended_with(message: String) -> FromEngine {
    FromEngine::Ended {
        ending: tokenmeter_engine::remote::Ending::Failed,
        message,
    }
}
