//! The engine's side of its dedicated Web Worker: answers the page's [`ToEngine`] messages by running
//! [`run_session`] on `performance.now()` and `fetch`, and posts every [`FromEngine`] back as JSON. The worker
//! owns the scheduler, the transport, record building and the live statistics, so rendering in the page can
//! never delay a chunk's timestamp.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::browser::checkpointer::{CheckpointQueue, RunCheckpoints};
use crate::browser::clock::{clock_info, PerformanceClock};
use crate::browser::fetch::FetchTransport;
use crate::browser::js;
use crate::browser::tokenizer_client::RemoteTokenizer;
use crate::core::format::ClockInfo;
use crate::core::tokenizer::TokenizerKind;
use crate::engine::remote::{FromEngine, ToEngine};
use crate::engine::session::Counter;
use crate::engine::session::{run_session, ClientProfile, Controls, Runtime};
use futures::future::LocalBoxFuture;

/// The browser as the session's runtime: `performance.now()` clocks and `fetch`.
struct BrowserRuntime {
    clock: ClockInfo,
}

impl Runtime for BrowserRuntime {
    type Clock = PerformanceClock;
    type Http = FetchTransport;

    fn clock(&self) -> PerformanceClock {
        PerformanceClock::start()
    }

    fn http(&self, clock: &PerformanceClock) -> FetchTransport {
        FetchTransport::new(*clock)
    }

    fn clock_info(&self) -> Option<ClockInfo> {
        Some(self.clock)
    }

    fn platform_now_ms(&self) -> f64 {
        js::performance_now()
    }

    fn profile(&self) -> ClientProfile {
        ClientProfile::BROWSER
    }

    /// The tokenizer in its own worker (started once, on first use), so this module never carries the BPE.
    fn tokenizer(
        &self,
        kind: TokenizerKind,
        json: Option<String>,
    ) -> LocalBoxFuture<'static, Result<Option<Counter>, String>> {
        Box::pin(RemoteTokenizer::get(kind, json))
    }
}

/// Starts listening for the page's messages and tells it so ([`FromEngine::Ready`]); the worker binary's `main`.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let clock = clock_info();
    let hidden = Rc::new(Cell::new(false));
    let current: Rc<RefCell<Option<Rc<Controls>>>> = Rc::default();
    let post_scope = scope.clone();
    let post: Rc<dyn Fn(FromEngine)> = Rc::new(move |message: FromEngine| {
        // Only fails when the message cannot be cloned, which a string always can.
        let _ = post_scope.post_message(&JsValue::from_str(&message.to_json()));
    });
    let queue = CheckpointQueue::start(post.clone());
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let text = event.data().as_string().unwrap_or_default();
        match ToEngine::from_json(&text) {
            Ok(ToEngine::Start { request }) => {
                if current.borrow().is_some() {
                    return; // The page starts one session at a time; a second Start is a page bug, ignored.
                }
                let controls = Rc::new(Controls::default());
                controls.hidden.set(hidden.get());
                *current.borrow_mut() = Some(controls.clone());
                let (current, queue) = (current.clone(), queue.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let runtime = BrowserRuntime { clock };
                    // Finished records go to the record store as they come (the snapshots carry them). A run
                    // of the page keeps none in memory, if the store opened; the command's pages keep theirs
                    // (it reads them from the snapshots, and writes the shard's files from them).
                    let mut request = *request;
                    request.records_leave = !request.tap_records && queue.store_opened().await;
                    let checkpoints = RunCheckpoints::new(queue, &request);
                    request.tap_records = true;
                    let emit = |message: FromEngine| checkpoints.emit(message);
                    run_session(&runtime, request, &controls, &emit).await;
                    current.borrow_mut().take();
                });
            }
            Ok(ToEngine::Forget {
                checkpoint,
                records_kept,
            }) => queue.forget(checkpoint, records_kept),
            // Figures are drawn by the figures worker, a module of its own.
            Ok(ToEngine::Figures { .. }) => {
                web_sys::console::error_1(&"figures are drawn by the figures worker".into())
            }
            Ok(ToEngine::Stop) => {
                if let Some(controls) = current.borrow().as_ref() {
                    controls.cancel.cancel();
                }
            }
            Ok(ToEngine::Visibility { hidden: now_hidden }) => {
                hidden.set(now_hidden);
                if let Some(controls) = current.borrow().as_ref() {
                    controls.hidden.set(now_hidden);
                }
            }
            Err(message) => web_sys::console::error_1(&message.into()),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The worker lives as long as the page: its handler is never dropped.
    on_message.forget();
    post(FromEngine::Ready {
        time_origin_ms: js::TIME_ORIGIN.with(|o| *o),
        clock,
        build: crate::browser::engine_worker::BUILD_ID.to_owned(),
    });
}
