//! The engine worker's handle on the tokenizer's own worker ([`crate::browser::tokenizer_worker`]): started on
//! the first run that names a tokenizer, kept for the next, it counts a batch of texts per message, so the engine's
//! module never links the BPE.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::core::tokenizer::TokenizerKind;
use crate::engine::session::Counter;
use crate::engine::tokenizer::{CountTokens, FromTokenizer, ToTokenizer};

/// The tokenizer worker's loader, beside the page (Trunk never hashes worker file names).
const LOADER: &str = "tokenmeter-tokenizer_loader.js";

type Reply = oneshot::Sender<Result<Vec<u64>, String>>;

thread_local! {
    /// The tokenizers started in this engine, each kept for later runs.
    static STARTED: RefCell<Vec<Rc<RemoteTokenizer>>> = const { RefCell::new(Vec::new()) };
}

/// A tokenizer counting in its own worker.
pub struct RemoteTokenizer {
    kind: TokenizerKind,
    /// A Hugging Face tokenizer's fingerprint (of its `tokenizer.json`), so another file starts another worker.
    key: Option<u64>,
    worker: Worker,
    next_id: Cell<u64>,
    /// Counts asked for and not yet answered; the load's answer under `u64::MAX`.
    waiting: Rc<RefCell<HashMap<u64, Reply>>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

const LOAD: u64 = u64::MAX;

impl RemoteTokenizer {
    /// The tokenizer `kind` (a Hugging Face one from its `json`), its worker started and loaded on first use
    /// (`None` for words).
    pub async fn get(kind: TokenizerKind, json: Option<String>) -> Result<Option<Counter>, String> {
        if kind == TokenizerKind::Words {
            return Ok(None);
        }
        let key = json.as_deref().map(fingerprint);
        let known = |t: &&Rc<RemoteTokenizer>| t.kind == kind && t.key == key;
        if let Some(started) = STARTED.with(|s| s.borrow().iter().find(known).cloned()) {
            return Ok(Some(started));
        }
        let tokenizer = Rc::new(RemoteTokenizer::start(kind, key, json)?);
        let loaded = tokenizer.answer(LOAD);
        loaded
            .await
            .map_err(|_| format!("the {kind} tokenizer's worker stopped"))?
            .map_err(|e| format!("the {kind} tokenizer could not be loaded: {e}"))?;
        STARTED.with(|s| s.borrow_mut().push(tokenizer.clone()));
        Ok(Some(tokenizer))
    }

    fn start(kind: TokenizerKind, key: Option<u64>, json: Option<String>) -> Result<RemoteTokenizer, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(LOADER, &options)
            .map_err(|e| format!("the tokenizer's worker could not start: {e:?}"))?;
        let waiting: Rc<RefCell<HashMap<u64, Reply>>> = Rc::default();
        let on_message = {
            let (worker, waiting) = (worker.clone(), waiting.clone());
            let mut json = json;
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let text = event.data().as_string().unwrap_or_default();
                let answer = |id: u64, result: Result<Vec<u64>, String>| {
                    if let Some(reply) = waiting.borrow_mut().remove(&id) {
                        let _ = reply.send(result);
                    }
                };
                match serde_json::from_str::<FromTokenizer>(&text) {
                    // It listens now: ask it to load (messages sent before could be lost).
                    Ok(FromTokenizer::Ready) => post(
                        &worker,
                        &ToTokenizer::Load {
                            kind: kind.to_string(),
                            json: json.take(),
                        },
                    ),
                    Ok(FromTokenizer::Loaded) => answer(LOAD, Ok(Vec::new())),
                    Ok(FromTokenizer::Counted { id, counts }) => answer(id, Ok(counts)),
                    Ok(FromTokenizer::Failed { id, message }) => answer(id.unwrap_or(LOAD), Err(message)),
                    Err(e) => answer(LOAD, Err(format!("the tokenizer's worker sent {e}"))),
                }
            })
        };
        let on_error = {
            let waiting = waiting.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let detail = event
                    .dyn_ref::<ErrorEvent>()
                    .map(|e| e.message())
                    .unwrap_or_else(|| "its script did not load".into());
                for (_, reply) in waiting.borrow_mut().drain() {
                    let _ = reply.send(Err(format!("the tokenizer's worker failed: {detail}")));
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(RemoteTokenizer {
            kind,
            key,
            worker,
            next_id: Cell::new(0),
            waiting,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// The answer to message `id`, when it comes.
    fn answer(&self, id: u64) -> oneshot::Receiver<Result<Vec<u64>, String>> {
        let (tx, rx) = oneshot::channel();
        self.waiting.borrow_mut().insert(id, tx);
        rx
    }
}

/// A fingerprint of a `tokenizer.json`'s text.
fn fingerprint(json: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut hasher);
    hasher.finish()
}

fn post(worker: &Worker, message: &ToTokenizer) {
    let text = serde_json::to_string(message).expect("messages serialise");
    let _ = worker.post_message(&JsValue::from_str(&text));
}

impl CountTokens for RemoteTokenizer {
    fn kind(&self) -> TokenizerKind {
        self.kind
    }

    fn count(&self, texts: Vec<String>) -> LocalBoxFuture<'static, Result<Vec<u64>, String>> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let answer = self.answer(id);
        post(&self.worker, &ToTokenizer::Count { id, texts });
        Box::pin(async move {
            answer
                .await
                .map_err(|_| "the tokenizer's worker stopped".to_owned())?
        })
    }
}
