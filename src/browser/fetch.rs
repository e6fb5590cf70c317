//! [`FetchTransport`]: the engine's `Transport` on the browser's `fetch` (through `gloo-net`, which binds the
//! global `fetch`, so it works in the engine's Web Worker), reading the body as a stream and stamping every chunk
//! with `performance.now()` the moment its read resolves, before anything decodes it.
//!
//! Each request owns an `AbortController`; dropping the request future or its body aborts the fetch, which is
//! how timeouts and a stopped run release the browser's connection.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use futures::stream;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, ReadableStreamDefaultReader, RequestInit, RequestMode};

use crate::browser::clock::PerformanceClock;
use crate::browser::{js, local_network};
use crate::core::address_space::address_space;
use crate::core::metrics::{ResourceTiming, ResourceTimings};
use crate::core::record::{ErrorKind, RequestError};
use crate::core::time::Timestamp;
use crate::engine::{Chunk, Clock, HttpResponse, Transport};
use crate::protocol::HttpRequest;

/// Resource Timing entries the browser's own buffer takes before it is cleared (its default holds only 250); the
/// transport reads entries from an observer, so the buffer only needs room, not history.
const RESOURCE_TIMING_BUFFER: u32 = 5000;

/// Sends requests with `fetch`, timed by a [`PerformanceClock`].
#[derive(Clone)]
pub struct FetchTransport {
    clock: PerformanceClock,
    /// The browser's Resource Timing entries as they come (none where no observer could start).
    resources: Option<Rc<ResourceObserver>>,
}

impl FetchTransport {
    pub fn new(clock: PerformanceClock) -> Self {
        js::set_resource_timing_buffer_size(RESOURCE_TIMING_BUFFER);
        FetchTransport {
            clock,
            resources: ResourceObserver::start().map(Rc::new),
        }
    }
}

impl std::fmt::Debug for FetchTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchTransport").finish_non_exhaustive()
    }
}

/// A `PerformanceObserver` of `fetch()`'s Resource Timing entries, feeding [`ResourceTimings`]: each request
/// then finds its own entry in O(1), where searching the buffer by URL cost O(entries) per request.
struct ResourceObserver {
    observer: web_sys::PerformanceObserver,
    timings: Rc<RefCell<ResourceTimings>>,
    /// Entries taken since the browser's buffer was last cleared.
    absorbed: Rc<Cell<u32>>,
    _callback: Closure<dyn FnMut(web_sys::PerformanceObserverEntryList)>,
}

impl ResourceObserver {
    fn start() -> Option<ResourceObserver> {
        let timings: Rc<RefCell<ResourceTimings>> = Rc::default();
        let absorbed = Rc::new(Cell::new(0u32));
        let callback = {
            let (timings, absorbed) = (timings.clone(), absorbed.clone());
            Closure::<dyn FnMut(web_sys::PerformanceObserverEntryList)>::new(
                move |list: web_sys::PerformanceObserverEntryList| {
                    absorb(&list.get_entries(), &timings, &absorbed);
                },
            )
        };
        let observer = web_sys::PerformanceObserver::new(callback.as_ref().unchecked_ref()).ok()?;
        let types = js_sys::Array::of1(&JsValue::from_str("resource"));
        observer.observe(&web_sys::PerformanceObserverInit::new(&types));
        Some(ResourceObserver {
            observer,
            timings,
            absorbed,
            _callback: callback,
        })
    }

    /// The entry of the request to `url` that started at `started_ms` and ended at `ended_ms`, taking first the
    /// entries the browser reported since the observer's last callback.
    fn claim(&self, url: &str, started_ms: f64, ended_ms: f64) -> Option<ResourceTiming> {
        absorb(&self.observer.take_records(), &self.timings, &self.absorbed);
        self.timings.borrow_mut().claim(url, started_ms, ended_ms)
    }
}

impl Drop for ResourceObserver {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Takes the `fetch()` entries of `entries` into `timings`; every so often clears the browser's buffer, which
/// the observer does not need.
fn absorb(entries: &js_sys::Array, timings: &RefCell<ResourceTimings>, absorbed: &Cell<u32>) {
    let mut timings = timings.borrow_mut();
    for entry in entries.iter() {
        let e: web_sys::PerformanceResourceTiming = entry.unchecked_into();
        if e.initiator_type() != "fetch" {
            continue;
        }
        timings.add(
            &e.name(),
            ResourceTiming {
                start_time: e.start_time(),
                domain_lookup_start: e.domain_lookup_start(),
                domain_lookup_end: e.domain_lookup_end(),
                connect_start: e.connect_start(),
                connect_end: e.connect_end(),
                request_start: e.request_start(),
                response_end: e.response_end(),
            },
        );
        absorbed.set(absorbed.get() + 1);
    }
    if absorbed.get() >= RESOURCE_TIMING_BUFFER / 2 {
        absorbed.set(0);
        js::clear_resource_timings();
    }
}

/// Aborts the fetch when dropped (a no-op once the body has been read to the end).
struct AbortOnDrop(AbortController);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Transport for FetchTransport {
    fn send(&self, request: HttpRequest) -> LocalBoxFuture<'static, Result<HttpResponse, RequestError>> {
        let clock = self.clock;
        Box::pin(async move {
            let controller =
                AbortController::new().map_err(|e| js_error(ErrorKind::Network, "AbortController", e))?;
            let guard = AbortOnDrop(controller);
            let js_request = build_request(&request, &guard.0)?;
            let response = js_request.send().await.map_err(|e| {
                // fetch rejects with a TypeError for network failures and CORS rejections alike.
                RequestError::new(
                    ErrorKind::Network,
                    format!(
                        "network or CORS: the request got no response (the server is unreachable, or it does \
                         not allow this page's origin; browsers do not say which). Check the URL and the \
                         server's CORS settings, or put a proxy that allows this origin in front of it (see the \
                         README): {e}"
                    ),
                )
            })?;
            let headers_at = clock.now();
            let headers: Vec<(String, String)> = response.headers().entries().collect();
            let body = match response.body() {
                Some(body) => {
                    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
                    body_stream(reader, clock, guard)
                }
                None => Box::pin(stream::empty()),
            };
            Ok(HttpResponse {
                status: response.status(),
                headers,
                headers_at,
                body,
            })
        })
    }

    fn queue_time(&self, url: &str, dispatched_at: Timestamp, ended_at: Timestamp) -> Option<Duration> {
        let started = self.clock.to_performance_millis(dispatched_at);
        let ended = self.clock.to_performance_millis(ended_at);
        self.resources.as_ref()?.claim(url, started, ended)?.queue_time()
    }
}

/// The request exactly as given: built as a `web_sys::Request` (gloo's builder would rewrite a URL's query
/// string, which changes what is signed and what Resource Timing names), then sent through gloo-net.
fn build_request(
    request: &HttpRequest,
    controller: &AbortController,
) -> Result<gloo_net::http::Request, RequestError> {
    let init = RequestInit::new();
    init.set_method(&request.method);
    init.set_mode(RequestMode::Cors);
    init.set_signal(Some(&controller.signal()));
    if let Some(space) = address_space(&request.url) {
        local_network::mark(&init, space);
    }
    let headers = Headers::new().map_err(|e| js_error(ErrorKind::Network, "Headers", e))?;
    for (name, value) in &request.headers {
        headers
            .append(name, value)
            .map_err(|e| js_error(ErrorKind::Network, &format!("invalid header {name}"), e))?;
    }
    init.set_headers(&headers);
    if !request.body.is_empty() {
        init.set_body(&Uint8Array::from(request.body.as_slice()));
    }
    web_sys::Request::new_with_str_and_init(&request.url, &init)
        .map(gloo_net::http::Request::from)
        .map_err(|e| {
            js_error(
                ErrorKind::Network,
                &format!("invalid request to {}", request.url),
                e,
            )
        })
}

/// The body reader, with the request's abort guard: dropped mid-read (timeout, Stop), it cancels the reader, so the
/// stream is released even where aborting the fetch does not reach the body, then aborts the fetch.
struct OpenBody {
    reader: ReadableStreamDefaultReader,
    _abort: AbortOnDrop,
}

impl Drop for OpenBody {
    fn drop(&mut self) {
        // A no-op on a stream read to the end; on a broken one the promise rejects, and awaiting it here keeps
        // that rejection from surfacing as an unhandled page error.
        let cancelled = JsFuture::from(self.reader.cancel());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = cancelled.await;
        });
    }
}

/// The body as a stream of stamped chunks. The time is read right after `read()` resolves, before copying.
fn body_stream(
    reader: ReadableStreamDefaultReader,
    clock: PerformanceClock,
    guard: AbortOnDrop,
) -> futures::stream::LocalBoxStream<'static, Result<Chunk, RequestError>> {
    let body = OpenBody {
        reader,
        _abort: guard,
    };
    Box::pin(stream::unfold(Some(body), move |state| async move {
        let body = state?;
        match JsFuture::from(body.reader.read()).await {
            Ok(result) => {
                let received_at = clock.now();
                let done = Reflect::get(&result, &JsValue::from_str("done"))
                    .ok()
                    .and_then(|d| d.as_bool());
                if done.unwrap_or(true) {
                    return None;
                }
                let value = Reflect::get(&result, &JsValue::from_str("value")).unwrap_or(JsValue::UNDEFINED);
                let bytes = Uint8Array::new(&value).to_vec();
                Some((Ok(Chunk { bytes, received_at }), Some(body)))
            }
            Err(e) => Some((
                Err(js_error(ErrorKind::Stream, "response body broke off", e)),
                None,
            )),
        }
    }))
}

fn js_error(kind: ErrorKind, context: &str, error: JsValue) -> RequestError {
    let detail = error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"));
    RequestError::new(kind, format!("{context}: {detail}"))
}
