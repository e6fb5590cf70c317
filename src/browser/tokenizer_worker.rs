//! The tokenizer's own Web Worker (the `tokenmeter-tokenizer` binary, a module of its own): the BPE and its
//! regular expressions are megabytes of code and data the engine's worker would otherwise carry on every page
//! load. The engine starts this worker only when a run names a tokenizer; it loads the ranks file beside the page
//! once, then counts the texts it is sent.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::browser::clock::PerformanceClock;
use crate::browser::fetch::FetchTransport;
use crate::core::tokenizer::TokenizerKind;
use crate::engine::scrape::get_text;
use crate::engine::tokenizer::{FromTokenizer, ToTokenizer, Tokenizer};

/// The largest ranks file read (`o200k_base` is 3.6 MB).
const RANKS_MAX_BYTES: usize = 16 << 20;

/// Listens for the engine's messages and says it does; the tokenizer worker binary's `main`.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let post = {
        let scope = scope.clone();
        move |message: &FromTokenizer| {
            let text = serde_json::to_string(message).expect("messages serialise");
            let _ = scope.post_message(&JsValue::from_str(&text));
        }
    };
    let loaded: Rc<RefCell<Option<Tokenizer>>> = Rc::default();
    let on_message = {
        let post = post.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let text = event.data().as_string().unwrap_or_default();
            match serde_json::from_str::<ToTokenizer>(&text) {
                Ok(ToTokenizer::Load { kind, json }) => {
                    let (post, loaded) = (post.clone(), loaded.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        match load(&kind, json).await {
                            Ok(tokenizer) => {
                                *loaded.borrow_mut() = Some(tokenizer);
                                post(&FromTokenizer::Loaded);
                            }
                            Err(message) => post(&FromTokenizer::Failed { id: None, message }),
                        }
                    });
                }
                Ok(ToTokenizer::Count { id, texts }) => match loaded.borrow().as_ref() {
                    Some(t) => post(&FromTokenizer::Counted {
                        id,
                        counts: texts.iter().map(|text| t.count(text)).collect(),
                    }),
                    None => post(&FromTokenizer::Failed {
                        id: Some(id),
                        message: "no tokenizer is loaded".into(),
                    }),
                },
                Err(e) => web_sys::console::error_1(&format!("tokenizer worker: {e}").into()),
            }
        })
    };
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The worker lives as long as the engine's: its handler is never dropped.
    on_message.forget();
    post(&FromTokenizer::Ready);
}

/// The tokenizer `kind`: a Hugging Face one from its `json`, a BPE from its ranks file beside the page.
async fn load(kind: &str, json: Option<String>) -> Result<Tokenizer, String> {
    let kind: TokenizerKind = kind.parse()?;
    if kind == TokenizerKind::HuggingFace {
        return Tokenizer::from_json(&json.ok_or("the tokenizer.json was not sent")?);
    }
    let file = kind.ranks_file().ok_or("words need no tokenizer")?;
    let http = FetchTransport::new(PerformanceClock::start());
    let ranks = get_text(&http, &file, RANKS_MAX_BYTES)
        .await
        .map_err(|e| format!("{file}: {e}"))?;
    Tokenizer::from_ranks(kind, &ranks)?.ok_or_else(|| "words need no tokenizer".into())
}
