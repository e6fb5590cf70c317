//! The engine worker's record keeping (`core::checkpoint`): every snapshot's newly finished records go to the
//! record store as one batch, with a heartbeat, so the engine keeps none in memory and a reload, a closed tab or a
//! crash loses no finished request. Runs in the worker, never on the page's thread.
//!
//! One queue applies every write in order and is also the worker's outlet to the page: a message is posted only
//! after every batch before it is written, so the finished run the page stores names exactly the lines that are
//! stored, and the page's "forget" never overtakes a batch. Storage refused or full only ends the record keeping
//! (the run says so in its files); the run and its statistics go on.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use futures::StreamExt;

use crate::browser::js;
use crate::browser::locks::{self, LockGuard};
use crate::browser::store::{RunStore, StoreError};
use crate::core::checkpoint::{
    batch_key, figures_key, heartbeat_key, lock_name, run_key, Entry, LINES_PER_BATCH,
};
use crate::core::format::write_stats;
use crate::core::format::RunFile;
use crate::core::saved::StoredRecords;
use crate::engine::remote::{FinishedRun, FromEngine, RunRequest};

enum Op {
    /// A run starts: hold its lock while it goes on; it may store `cap` bytes at most, if capped.
    Hold {
        run: String,
        cap: Option<u64>,
    },
    Put(Entry),
    /// Post a message to the page, after every write before it; a finished run whose records left memory learns
    /// where they are (`settle`).
    Post {
        message: FromEngine,
        settle: bool,
    },
    Forget {
        run: String,
        records_kept: bool,
    },
}

/// What the queue knows of a run's records.
#[derive(Default)]
struct Kept {
    lines: u64,
    bytes: u64,
    cap: Option<u64>,
    /// Why record keeping stopped, once it did.
    stopped: Option<String>,
}

/// The worker's one queue of record-store writes and messages, applied in order.
#[derive(Clone)]
pub struct CheckpointQueue {
    ops: UnboundedSender<Op>,
    /// Whether the store opened (records can leave memory only if it did).
    opened: Shared<oneshot::Receiver<bool>>,
}

impl CheckpointQueue {
    /// Starts the queue; `post` sends a message to the page. `cap_bytes` caps what one run may store (a test's
    /// stand-in for a full disk).
    pub fn start(post: Rc<dyn Fn(FromEngine)>) -> CheckpointQueue {
        let (ops, mut pending) = unbounded::<Op>();
        let (opened_tx, opened) = oneshot::channel();
        wasm_bindgen_futures::spawn_local(async move {
            let store = RunStore::open().await.ok();
            let _ = opened_tx.send(store.is_some());
            let mut locks: HashMap<String, LockGuard> = HashMap::new();
            let mut kept: HashMap<String, Kept> = HashMap::new();
            while let Some(op) = pending.next().await {
                match op {
                    Op::Hold { run, cap } => {
                        if let Some(guard) = locks::hold(&lock_name(&run)) {
                            locks.insert(run.clone(), guard);
                        }
                        kept.insert(
                            run,
                            Kept {
                                cap,
                                ..Kept::default()
                            },
                        );
                    }
                    Op::Put(entry) => {
                        let Some(store) = &store else { continue };
                        let run = entry.run_key().to_owned();
                        let state = kept.entry(run).or_default();
                        match &entry {
                            Entry::Batch {
                                responses, extras, ..
                            } => {
                                if state.stopped.is_some() {
                                    continue;
                                }
                                let size = (responses.len() + extras.len()) as u64;
                                let capped = state.cap.is_some_and(|cap| state.bytes + size > cap);
                                let written = if capped {
                                    Err(StoreError::Full)
                                } else {
                                    store.put_checkpoint(&entry).await
                                };
                                match written {
                                    Ok(()) => {
                                        state.lines += responses.matches('\n').count() as u64;
                                        state.bytes += size;
                                    }
                                    Err(e) => state.stopped = Some(stopped_note(&e, state.lines)),
                                }
                            }
                            Entry::Heartbeat { .. } | Entry::Figures { .. } => {
                                let _ = store.put_checkpoint(&entry).await;
                            }
                        }
                    }
                    Op::Post { mut message, settle } => {
                        if let FromEngine::RunEnded { run } = &mut message {
                            // The figure data stays in the worker: beside the records, never in the page.
                            let figure_data = run.figure_data.take();
                            let state = run.checkpoint.as_ref().and_then(|key| kept.remove(key));
                            if let (Some(state), true, Some(store)) = (state, settle, &store) {
                                if let (Some(data), Some(key)) = (figure_data, &run.checkpoint) {
                                    let entry = Entry::Figures {
                                        key: figures_key(key),
                                        json: data.to_json(),
                                    };
                                    // Without it (storage full), the figures are read from the batches.
                                    let _ = store.put_checkpoint(&entry).await;
                                }
                                settle_records(run, state);
                            }
                        }
                        post(message);
                    }
                    Op::Forget { run, records_kept } => {
                        if let Some(store) = &store {
                            let _ = if records_kept {
                                store.delete_heartbeat(&run).await
                            } else {
                                store.delete_checkpoint_of(&run).await
                            };
                        }
                        locks.remove(&run);
                    }
                }
            }
        });
        CheckpointQueue {
            ops,
            opened: opened.shared(),
        }
    }

    /// Whether the record store opened: only then may a run's records leave memory.
    pub async fn store_opened(&self) -> bool {
        self.opened.clone().await.unwrap_or(false)
    }

    /// The finished run checkpointed under `run_key` is stored: its heartbeat goes, and its batches too unless
    /// they are its records.
    pub fn forget(&self, run_key: String, records_kept: bool) {
        let _ = self.ops.unbounded_send(Op::Forget {
            run: run_key,
            records_kept,
        });
    }

    fn send(&self, op: Op) {
        let _ = self.ops.unbounded_send(op);
    }
}

/// A finished run whose records left memory learns where they are; if keeping them stopped early, its statistics
/// and `stats.json` say so (the statistics themselves stay exact: they saw every record).
fn settle_records(run: &mut FinishedRun, state: Kept) {
    let Some(key) = run.checkpoint.clone() else {
        return;
    };
    if let Some(note) = &state.stopped {
        run.stats
            .insert("tokenmeter_records_kept".into(), state.lines.into());
        run.stats
            .insert("tokenmeter_records_note".into(), note.clone().into());
        let text = write_stats(&run.stats);
        for (name, file) in run.files.iter_mut() {
            if name == RunFile::Stats.file_name() {
                file.clone_from(&text);
            }
        }
    }
    run.records = Some(StoredRecords {
        key,
        lines: state.lines,
        stopped: state.stopped,
        extras: true,
    });
}

/// The note a run carries when its records stopped being kept.
fn stopped_note(error: &StoreError, lines: u64) -> String {
    format!(
        "Record keeping stopped after {lines} requests: {error}. The statistics count every request; \
         responses.jsonl holds the first {lines}. Free some space (delete old runs) before a run this long."
    )
}

/// One Run press's record keeping: the worker's emitter during a session.
pub struct RunCheckpoints {
    queue: CheckpointQueue,
    seed: u64,
    /// The run going on, once started.
    current: RefCell<Option<String>>,
    next_batch: Cell<u64>,
    /// Whether the page asked for the records in its snapshots (the `tokenmeter` command does).
    page_wants_records: bool,
    /// Whether the engine keeps no record (`RunRequest::records_leave`): the store's batches are the run's records.
    records_leave: bool,
    /// What one run may store at most (`RunRequest::store_cap_bytes`, a test's stand-in for a full disk).
    cap: Option<u64>,
}

impl RunCheckpoints {
    pub fn new(queue: CheckpointQueue, request: &RunRequest) -> RunCheckpoints {
        RunCheckpoints {
            queue,
            seed: request.seed,
            current: RefCell::new(None),
            next_batch: Cell::new(0),
            page_wants_records: request.tap_records,
            records_leave: request.records_leave,
            cap: request.store_cap_bytes,
        }
    }

    /// Takes what `message` carries for the record store (the page gets the records only if it asked) and posts
    /// it to the page after them.
    pub fn emit(&self, mut message: FromEngine) {
        match &mut message {
            FromEngine::RunStarted { run_name } => {
                let run = run_key(self.seed, run_name);
                self.queue.send(Op::Hold {
                    run: run.clone(),
                    cap: self.cap,
                });
                self.current.replace(Some(run));
            }
            FromEngine::Snapshot { snapshot } => {
                if let Some(run) = self.current.borrow().clone() {
                    let records = if self.page_wants_records {
                        snapshot.records.clone()
                    } else {
                        snapshot.records.take()
                    };
                    for (responses, extras) in records.iter().flat_map(|b| b.split(LINES_PER_BATCH)) {
                        let seq = self.next_batch.get();
                        self.next_batch.set(seq + 1);
                        self.queue.send(Op::Put(Entry::Batch {
                            key: batch_key(&run, seq),
                            responses,
                            extras,
                        }));
                    }
                    self.queue.send(Op::Put(Entry::Heartbeat {
                        key: heartbeat_key(&run),
                        at_ms: js::epoch_millis_now(),
                    }));
                }
            }
            FromEngine::RunEnded { run } => run.checkpoint = self.current.borrow().clone(),
            _ => {}
        }
        self.queue.send(Op::Post {
            message,
            settle: self.records_leave,
        });
    }
}
