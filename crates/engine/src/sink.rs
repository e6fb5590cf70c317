//! What a run reports, and where it goes: the closed [`EngineEvent`] enum and the [`EventSink`] that receives it
//! (ripgrep's `Sink` shape). The page's sink is [`crate::live::LiveRun`], which folds each event into its
//! statistics and records at once; the page reads its snapshot on its own refresh timer. `on_event` is called
//! inline by the driver's loop, so a sink must be cheap: never block, never render.

use chrono::{DateTime, Utc};

use tokenmeter_core::record::{Outcome, RequestRecord};
use tokenmeter_core::scheduler::Dispatch;
use tokenmeter_core::time::Timestamp;

/// A finished request with the dispatch that started it (client, payload, warm-up flag, scheduled time).
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRequest {
    pub dispatch: Dispatch,
    /// `record.warmup` equals `dispatch.warmup`.
    pub record: RequestRecord,
}

/// How a run went, in counts and times. Invariant: `sent == succeeded + failed + cancelled`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Monotonic time when the run started and when its last request ended.
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub start_wall: DateTime<Utc>,
    pub end_wall: DateTime<Utc>,
    /// The caller cancelled the run (partial results, as LLMeter's `"interrupted": true`).
    pub interrupted: bool,
    /// Requests dispatched; each produced exactly one record.
    pub sent: u64,
    pub succeeded: u64,
    /// Failed for any reason other than cancellation.
    pub failed: u64,
    pub cancelled: u64,
    /// Aborted on purpose by the plan's cancellation injection.
    pub cancelled_by_design: u64,
    /// Work that came due but was never sent (open loop: no free slot or late timers; see `Scheduler::dropped`).
    pub dropped: u64,
}

impl RunSummary {
    /// Records emitted: always equal to `sent`.
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed + self.cancelled + self.cancelled_by_design
    }

    /// Counts one record.
    pub(crate) fn count(&mut self, record: &RequestRecord) {
        match record.outcome() {
            Outcome::Succeeded => self.succeeded += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::CancelledByDesign => self.cancelled_by_design += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }
}

/// Everything the engine tells the outside world during a run.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A request was just sent (live in-flight counts, progress).
    RequestStarted(Dispatch),
    /// A request ended, successfully or not.
    RequestFinished(Box<FinishedRequest>),
    /// The run is over; always the last event.
    RunEnded(RunSummary),
}

/// Receives a run's events, in order.
pub trait EventSink {
    fn on_event(&mut self, event: EngineEvent);
}

/// Collects every event (tests, small runs).
impl EventSink for Vec<EngineEvent> {
    fn on_event(&mut self, event: EngineEvent) {
        self.push(event);
    }
}

/// Any `FnMut(EngineEvent)` is a sink.
impl<F: FnMut(EngineEvent)> EventSink for F {
    fn on_event(&mut self, event: EngineEvent) {
        self(event)
    }
}
