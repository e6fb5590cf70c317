//! The engine worker's checkpoints (`core::checkpoint`): every snapshot's newly finished records go to the
//! browser's storage as one batch, with a heartbeat, so a reload, a closed tab or a crash loses no finished
//! request. Runs in the worker, never on the page's thread. One queue applies every write and delete in order, so
//! the page's "forget this checkpoint" (sent once the finished run is stored) never overtakes a batch still being
//! written. Storage refused (private mode, quota) only means no checkpoint: the run itself goes on.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::StreamExt;

use crate::browser::js;
use crate::browser::locks::{self, LockGuard};
use crate::browser::store::RunStore;
use crate::core::checkpoint::{batch_key, heartbeat_key, lock_name, run_key, Entry};
use crate::engine::remote::FromEngine;

enum Op {
    /// A run starts: hold its lock while its checkpoint is live.
    Hold(String),
    Put(Entry),
    Forget(String),
}

/// The worker's one queue of checkpoint writes, applied in order.
#[derive(Clone)]
pub struct CheckpointQueue {
    ops: UnboundedSender<Op>,
}

impl CheckpointQueue {
    /// Starts the queue (it opens the store; without one, writes are dropped).
    pub fn start() -> CheckpointQueue {
        let (ops, mut pending) = unbounded::<Op>();
        wasm_bindgen_futures::spawn_local(async move {
            let store = RunStore::open().await.ok();
            let mut locks: HashMap<String, LockGuard> = HashMap::new();
            while let Some(op) = pending.next().await {
                match op {
                    Op::Hold(run) => {
                        if let Some(guard) = locks::hold(&lock_name(&run)) {
                            locks.insert(run, guard);
                        }
                    }
                    Op::Put(entry) => {
                        if let Some(store) = &store {
                            let _ = store.put_checkpoint(&entry).await;
                        }
                    }
                    Op::Forget(run) => {
                        if let Some(store) = &store {
                            let _ = store.delete_checkpoint_of(&run).await;
                        }
                        locks.remove(&run);
                    }
                }
            }
        });
        CheckpointQueue { ops }
    }

    /// Deletes run `run_key`'s checkpoint, after every write before it.
    pub fn forget(&self, run_key: String) {
        let _ = self.ops.unbounded_send(Op::Forget(run_key));
    }
}

/// One Run press's checkpoints.
pub struct RunCheckpoints {
    queue: CheckpointQueue,
    seed: u64,
    /// The run going on, once started.
    current: RefCell<Option<String>>,
    next_batch: Cell<u64>,
    /// Whether the page asked for the records in its snapshots (the `tokenmeter` command does).
    page_wants_records: bool,
}

impl RunCheckpoints {
    pub fn new(queue: CheckpointQueue, seed: u64, page_wants_records: bool) -> RunCheckpoints {
        RunCheckpoints {
            queue,
            seed,
            current: RefCell::new(None),
            next_batch: Cell::new(0),
            page_wants_records,
        }
    }

    /// Takes what `message` carries for the checkpoint before it is posted to the page: the records (the page
    /// gets them only if it asked) and, at a run's end, the checkpoint's key (the page has it forgotten once the
    /// run is stored).
    pub fn take(&self, message: &mut FromEngine) {
        match message {
            FromEngine::RunStarted { run_name } => {
                let run = run_key(self.seed, run_name);
                let _ = self.queue.ops.unbounded_send(Op::Hold(run.clone()));
                self.current.replace(Some(run));
            }
            FromEngine::Snapshot { snapshot } => {
                let Some(run) = self.current.borrow().clone() else {
                    return;
                };
                let records = if self.page_wants_records {
                    snapshot.records.clone()
                } else {
                    snapshot.records.take()
                };
                if let Some(batch) = records {
                    let seq = self.next_batch.get();
                    self.next_batch.set(seq + 1);
                    self.put(Entry::Batch {
                        key: batch_key(&run, seq),
                        responses: batch.responses,
                        extras: batch.extras,
                    });
                }
                self.put(Entry::Heartbeat {
                    key: heartbeat_key(&run),
                    at_ms: js::epoch_millis_now(),
                });
            }
            FromEngine::RunEnded { run } => run.checkpoint = self.current.borrow().clone(),
            _ => {}
        }
    }

    fn put(&self, entry: Entry) {
        let _ = self.queue.ops.unbounded_send(Op::Put(entry));
    }
}
