//! The page's handle on the engine's dedicated Web Worker: starts it, waits for its [`FromEngine::Ready`] (messages
//! posted before it would be lost), forwards the tab's visibility, and turns the worker's messages into
//! [`FromEngine`] values for the page.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::browser::command::CommandHook;
use crate::browser::js;
use crate::engine::remote::{FromEngine, ToEngine};

/// A handler for an event, kept alive as long as the worker.
type Handler = Closure<dyn FnMut(JsValue)>;

/// The workers' loaders, next to the page (Trunk never hashes worker file names): the engine's, and the figures
/// worker's (a module of its own, so the engine's never links the charts).
const WORKER_LOADER: &str = "tokenmeter-worker_loader.js";
const FIGURES_LOADER: &str = "tokenmeter-figures_loader.js";

/// This build's identity (`build.rs`): the worker says its own in `Ready`, and the two must match.
pub const BUILD_ID: &str = env!("TOKENMETER_BUILD_ID");

/// A running engine worker. Dropping it terminates the worker.
pub struct EngineWorker {
    worker: Worker,
    ready: Rc<Cell<bool>>,
    /// Messages posted before the worker was ready, sent when it is.
    pending: Rc<RefCell<Vec<String>>>,
    /// `worker.timeOrigin − page.timeOrigin`, in ms, once the worker said it (converts its times to the page's).
    origin_offset_ms: Rc<Cell<Option<f64>>>,
    _handlers: [Handler; 2],
    /// The document's `visibilitychange` listener, removed when the worker is dropped.
    visibility: Option<(web_sys::Document, Handler)>,
}

impl EngineWorker {
    /// Starts the worker; `on_message` receives each of its messages, `on_error` a failure to load or run it.
    pub fn spawn(
        on_message: impl Fn(FromEngine) + 'static,
        on_error: impl Fn(String) + 'static,
    ) -> Result<EngineWorker, String> {
        EngineWorker::start(true, on_message, on_error)
    }

    /// Starts a figures worker for one figures job ([`ToEngine::Figures`]): it never measures, so drawing a big
    /// run's figures never delays a timestamp, and dropping it gives its memory back. Its messages
    /// are not forwarded to the `tokenmeter` command, and it is not told the tab's visibility.
    pub fn spawn_figures(
        on_message: impl Fn(FromEngine) + 'static,
        on_error: impl Fn(String) + 'static,
    ) -> Result<EngineWorker, String> {
        EngineWorker::start(false, on_message, on_error)
    }

    fn start(
        measures: bool,
        on_message: impl Fn(FromEngine) + 'static,
        on_error: impl Fn(String) + 'static,
    ) -> Result<EngineWorker, String> {
        let on_error: Rc<dyn Fn(String)> = Rc::new(on_error);
        let loader = if measures { WORKER_LOADER } else { FIGURES_LOADER };
        let url = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.base_uri().ok().flatten())
            .and_then(|base| web_sys::Url::new_with_base(&format!("{loader}?build={BUILD_ID}"), &base).ok())
            .map(|u| u.href())
            .unwrap_or_else(|| loader.to_owned());
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(&url, &options)
            .map_err(|e| format!("The measuring engine (a Web Worker) could not start: {e:?}"))?;
        let ready = Rc::new(Cell::new(false));
        let pending: Rc<RefCell<Vec<String>>> = Rc::default();
        let origin_offset_ms = Rc::new(Cell::new(None));
        let command = CommandHook::get().filter(|_| measures);
        let on_message = {
            let (worker, ready, pending, offset, failed) = (
                worker.clone(),
                ready.clone(),
                pending.clone(),
                origin_offset_ms.clone(),
                on_error.clone(),
            );
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let event: MessageEvent = event.unchecked_into();
                let text = event.data().as_string().unwrap_or_default();
                if let Some(hook) = &command {
                    hook.forward(&text);
                }
                // A message this page cannot read (an engine of another build) ends the run visibly, never a hang.
                let message = match FromEngine::from_json(&text) {
                    Ok(message) => message,
                    Err(e) => return failed(format!("The measuring engine sent {e}. Reload the page.")),
                };
                if let FromEngine::Ready { build, .. } = &message {
                    if build != BUILD_ID {
                        return failed(format!(
                            "This page (build {BUILD_ID}) and its measuring engine (build {build}) come from \
                             different deploys, probably a cached old engine: reload the page."
                        ));
                    }
                }
                if let FromEngine::Ready { time_origin_ms, .. } = &message {
                    offset.set(Some(time_origin_ms - js::TIME_ORIGIN.with(|o| *o)));
                    ready.set(true);
                    for text in pending.borrow_mut().drain(..) {
                        let _ = worker.post_message(&JsValue::from_str(&text));
                    }
                }
                on_message(message);
            })
        };
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let detail = event
                .dyn_ref::<ErrorEvent>()
                .map(|e| e.message())
                .unwrap_or_else(|| "the worker script did not load".into());
            on_error(format!("The measuring engine (a Web Worker) failed: {detail}."));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let document = web_sys::window().and_then(|w| w.document()).filter(|_| measures);
        let visibility = document.map(|document| {
            let (worker, ready, pending) = (worker.clone(), ready.clone(), pending.clone());
            let listener = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
                let hidden = web_sys::window()
                    .and_then(|w| w.document())
                    .is_some_and(|d| d.hidden());
                send(&worker, &ready, &pending, &ToEngine::Visibility { hidden });
            });
            let _ = document
                .add_event_listener_with_callback("visibilitychange", listener.as_ref().unchecked_ref());
            (document, listener)
        });
        Ok(EngineWorker {
            worker,
            ready,
            pending,
            origin_offset_ms,
            _handlers: [on_message, on_error],
            visibility,
        })
    }

    /// Posts `message` now, or as soon as the worker is ready.
    pub fn post(&self, message: &ToEngine) {
        send(&self.worker, &self.ready, &self.pending, message);
    }

    /// How long ago, in ms, the worker's `performance.now()` read `worker_ms` (how stale a snapshot is when the
    /// page draws it): the worker's time converted to the page's through both time origins.
    pub fn age_ms(&self, worker_ms: f64) -> Option<f64> {
        self.origin_offset_ms
            .get()
            .map(|offset| js::performance_now() - (worker_ms + offset))
    }
}

fn send(worker: &Worker, ready: &Cell<bool>, pending: &RefCell<Vec<String>>, message: &ToEngine) {
    let text = message.to_json();
    if ready.get() {
        let _ = worker.post_message(&JsValue::from_str(&text));
    } else {
        pending.borrow_mut().push(text);
    }
}

impl Drop for EngineWorker {
    fn drop(&mut self) {
        self.worker.terminate();
        if let Some((document, listener)) = &self.visibility {
            let _ = document
                .remove_event_listener_with_callback("visibilitychange", listener.as_ref().unchecked_ref());
        }
    }
}
