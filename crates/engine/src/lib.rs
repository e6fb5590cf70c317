//! Async orchestration, generic over the [`Transport`] and [`Clock`] ports: one request's lifecycle
//! ([`request`]) and, on top of it, whole runs.
//!
//! Must not import `charts`, `browser` or `ui`, nor any web-sys or Leptos type. Futures here are not `Send`:
//! browser futures never are.

pub mod cancel;
pub mod conversation;
pub mod driver;
pub mod live;
pub mod remote;
pub mod request;
pub mod scrape;
pub mod session;
pub mod simulated;
pub mod sink;
pub mod target;
pub mod testing;
pub mod tokenizer;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use futures::stream::LocalBoxStream;

use tokenmeter_core::record::RequestError;
use tokenmeter_core::time::Timestamp;
use tokenmeter_protocol::HttpRequest;

/// The run's clock: monotonic time for measurements, wall time for `request_time`, and timers.
pub trait Clock {
    /// Monotonic time since the run's origin (`performance.now()` in the browser).
    fn now(&self) -> Timestamp;
    /// Wall-clock UTC time, with sub-second precision.
    fn wall_time(&self) -> DateTime<Utc>;
    /// Resolves once `now() >= deadline`.
    fn sleep_until(&self, deadline: Timestamp) -> LocalBoxFuture<'static, ()>;
}

/// A piece of a response body, stamped by the transport the moment it arrived, before anything decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub received_at: Timestamp,
}

/// A response whose headers have arrived; its body streams in as stamped chunks.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// When the status and headers arrived.
    pub headers_at: Timestamp,
    /// Body chunks, ending with `None`, or an error if the body broke off.
    pub body: LocalBoxStream<'static, Result<Chunk, RequestError>>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends HTTP requests. Dropping the returned future or the response body aborts the request.
pub trait Transport {
    /// Sends `request`; resolves when the response headers arrive. Failures before that (network, CORS) are
    /// typed `RequestError`s.
    fn send(&self, request: HttpRequest) -> LocalBoxFuture<'static, Result<HttpResponse, RequestError>>;

    /// How long the browser queued the request sent to `url` at `dispatched_at` (and ended at `ended_at`) before
    /// it went on the wire, when the platform can tell (Resource Timing). Called after the response ended.
    fn queue_time(&self, _url: &str, _dispatched_at: Timestamp, _ended_at: Timestamp) -> Option<Duration> {
        None
    }

    /// The HTTP version of the responses seen so far (`http/1.1`, `h2`), when the platform tells.
    fn protocol(&self) -> Option<String> {
        None
    }
}
