//! Browser tests: wasm-bindgen-test in headless Chromium. They exercise the real `fetch`, `ReadableStream`,
//! `performance.now()` and `setTimeout` behind the engine's ports, and mount the Leptos app.
#![cfg(target_arch = "wasm32")]

use futures::StreamExt;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

use tokenmeter::browser::clock::PerformanceClock;
use tokenmeter::browser::fetch::FetchTransport;
use tokenmeter::core::metrics;
use tokenmeter::core::record::ErrorKind;
use tokenmeter::core::time::Timestamp;
use tokenmeter::engine::cancel::CancelToken;
use tokenmeter::engine::request::{execute, PreparedRequest, RequestOptions};
use tokenmeter::engine::{Clock, Transport};
use tokenmeter::protocol::framing::SseStream;
use tokenmeter::protocol::openai_chat::ChatInterpreter;
use tokenmeter::protocol::HttpRequest;

wasm_bindgen_test_configure!(run_in_browser);

const SSE: &str = concat!(
    "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"hello\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2}}\n\n",
    "data: [DONE]\n\n",
);

/// A same-origin `blob:` URL serving `body`, so fetch can be tested without a server.
fn blob_url(body: &str) -> String {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(body));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/event-stream");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).unwrap();
    web_sys::Url::create_object_url_with_blob(&blob).unwrap()
}

fn get(url: String) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url,
        headers: vec![],
        body: vec![],
    }
}

#[wasm_bindgen_test]
async fn performance_clock_is_monotonic_and_sleeps_until_the_deadline() {
    let clock = PerformanceClock::start();
    let a = clock.now();
    let deadline = a.plus(std::time::Duration::from_millis(30));
    clock.sleep_until(deadline).await;
    let b = clock.now();
    assert!(b >= deadline, "woke at {b:?} before {deadline:?}");
    // A deadline in the past resolves at once.
    clock.sleep_until(Timestamp::ZERO).await;
    let wall = clock.wall_time();
    assert!(
        wall.timestamp() > 1_700_000_000,
        "wall time {wall} comes from performance.timeOrigin"
    );
}

#[wasm_bindgen_test]
async fn fetch_streams_stamped_chunks() {
    let clock = PerformanceClock::start();
    let transport = FetchTransport::new(clock);
    let before = clock.now();
    let response = transport.send(get(blob_url(SSE))).await.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.headers_at >= before);
    let chunks: Vec<_> = response.body.collect().await;
    let bytes: Vec<u8> = chunks
        .iter()
        .flat_map(|c| c.as_ref().unwrap().bytes.clone())
        .collect();
    assert_eq!(String::from_utf8(bytes).unwrap(), SSE);
    let times: Vec<Timestamp> = chunks.iter().map(|c| c.as_ref().unwrap().received_at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]) && times[0] >= response.headers_at);
}

#[wasm_bindgen_test]
async fn one_request_through_fetch_becomes_a_complete_record() {
    let clock = PerformanceClock::start();
    let transport = FetchTransport::new(clock);
    let prepared = PreparedRequest {
        http: get(blob_url(SSE)),
        decoder: Box::new(SseStream::new(ChatInterpreter::default())),
        fallback_id: "req-0".into(),
        input_prompt: Some("hi there".into()),
        input_payload: None,
    };
    let record = execute(
        &transport,
        &clock,
        prepared,
        clock.now(),
        RequestOptions::default(),
        &CancelToken::new(),
    )
    .await;
    assert_eq!(record.error, None);
    assert_eq!(record.id, "c1");
    assert_eq!(record.response_text.as_deref(), Some("hello world"));
    assert_eq!(record.tokens.output, Some(2));
    assert!(!record.tokens_estimated.any(), "the stream reported its usage");
    assert_eq!(record.http_status, Some(200));
    let ttft = metrics::time_to_first_token(&record).unwrap();
    let ttlt = metrics::time_to_last_token(&record).unwrap();
    assert!(ttft >= 0.0 && ttlt >= ttft);
}

#[wasm_bindgen_test]
async fn unreachable_server_is_a_network_error() {
    let clock = PerformanceClock::start();
    let transport = FetchTransport::new(clock);
    let prepared = PreparedRequest {
        http: get("http://127.0.0.1:9/nothing".into()),
        decoder: Box::new(SseStream::new(ChatInterpreter::default())),
        fallback_id: "req-1".into(),
        input_prompt: None,
        input_payload: None,
    };
    let record = execute(
        &transport,
        &clock,
        prepared,
        clock.now(),
        RequestOptions::default(),
        &CancelToken::new(),
    )
    .await;
    assert_eq!(record.error.map(|e| e.kind), Some(ErrorKind::Network));
    assert_eq!(record.http_status, None);
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function install_endless_fetch(first_chunk) {
  const state = { aborted: false, cancelled: false, real: globalThis.fetch };
  globalThis.fetch = (request) => {
    request.signal.addEventListener("abort", () => { state.aborted = true; });
    const body = new ReadableStream({
      start(c) { c.enqueue(new TextEncoder().encode(first_chunk)); },
      pull() { return new Promise(() => {}); },  // the rest never comes
      cancel() { state.cancelled = true; },
    });
    return Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } }));
  };
  return state;
}
export function restore_fetch(state) { globalThis.fetch = state.real; }
export function was_aborted(state) { return state.aborted; }
export function was_cancelled(state) { return state.cancelled; }
"#)]
extern "C" {
    /// Replaces the global `fetch` with one whose response streams `first_chunk`, then nothing, forever.
    fn install_endless_fetch(first_chunk: &str) -> wasm_bindgen::JsValue;
    fn restore_fetch(state: &wasm_bindgen::JsValue);
    fn was_aborted(state: &wasm_bindgen::JsValue) -> bool;
    fn was_cancelled(state: &wasm_bindgen::JsValue) -> bool;
}

#[wasm_bindgen_test]
async fn cancel_aborts_an_in_flight_request() {
    let first = "data: {\"id\":\"c9\",\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n";
    let state = install_endless_fetch(first);
    let clock = PerformanceClock::start();
    let transport = FetchTransport::new(clock);
    let cancel = CancelToken::new();
    let prepared = PreparedRequest {
        http: get("https://endless.invalid/v1/chat/completions".into()),
        decoder: Box::new(SseStream::new(ChatInterpreter::default())),
        fallback_id: "req-2".into(),
        input_prompt: None,
        input_payload: None,
    };
    let request = execute(
        &transport,
        &clock,
        prepared,
        clock.now(),
        RequestOptions::default(),
        &cancel,
    );
    // Stop the run while the request is reading its (endless) body.
    let stop = async {
        clock
            .sleep_until(clock.now().plus(std::time::Duration::from_millis(50)))
            .await;
        assert!(!was_aborted(&state), "nothing aborted the request before Stop");
        cancel.cancel();
    };
    let (record, ()) = futures::future::join(request, stop).await;
    restore_fetch(&state);
    assert_eq!(record.error.map(|e| e.kind), Some(ErrorKind::Cancelled));
    assert!(
        record.timing.first_token_at.is_some(),
        "the request was in flight, reading"
    );
    assert_eq!(record.id, "c9");
    assert!(was_aborted(&state), "Stop fired the request's AbortController");
    assert!(was_cancelled(&state), "the body stream was released");
}

#[wasm_bindgen_test]
async fn the_app_mounts_with_its_form() {
    let document = web_sys::window().unwrap().document().unwrap();
    let host: web_sys::HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&host).unwrap();
    let _handle = leptos::mount::mount_to(host.clone(), tokenmeter::ui::App);
    assert!(document.get_element_by_id("run").is_some());
    // Bound values are written by effects, which run after the current task.
    let clock = PerformanceClock::start();
    clock
        .sleep_until(clock.now().plus(std::time::Duration::from_millis(5)))
        .await;
    // The default endpoint is the in-browser simulated model: a first run needs no URL and no credentials.
    let kind: web_sys::HtmlSelectElement = document
        .get_element_by_id("endpoint-kind")
        .unwrap()
        .unchecked_into();
    assert_eq!(kind.value(), "simulated");
    assert!(document.get_element_by_id("endpoint-url").is_none());
    assert!(document.get_element_by_id("live-table").is_some());
    std::mem::forget(_handle);
}
