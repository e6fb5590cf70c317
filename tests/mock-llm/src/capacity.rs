//! The server's capacity: at most N model requests are served at once and the rest wait in line (first come,
//! first served), so above N the time to first token grows by the wait, as a real server's does above its
//! batch size. An SLO search has a knee to find. Off unless set: `MOCK_CAPACITY` ([`crate::Config::capacity`]),
//! or per request `x-mock-capacity` / `?capacity=` (requests naming the same capacity share one line).
//!
//! A request holds its place until its response body has been sent or dropped (a client that disconnects frees
//! it), so the wait covers whole generations.
//!
//! The same middleware keeps [`crate::metrics`]' two request gauges exact, limit or not: a model request
//! (`POST`) counts as waiting while it queues for a place and as running from then until its response body
//! has ended or been dropped (a body already whole when the route returns, with no place to keep, counts
//! out at once: its generation is over).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::timing::Knobs;
use crate::AppState;

/// Per-request capacity (a whole number of requests served at once).
pub const CAPACITY_HEADER: &str = "x-mock-capacity";

/// One line per capacity asked for.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<Mutex<HashMap<u32, Arc<Semaphore>>>>);

impl Lines {
    fn line(&self, capacity: u32) -> Arc<Semaphore> {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .entry(capacity)
            .or_insert_with(|| Arc::new(Semaphore::new(capacity as usize)))
            .clone()
    }
}

/// Middleware: waits for a place when a capacity applies, and keeps it until the response body is done;
/// counts the request as waiting, then running.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let knobs = Knobs::new(request.headers(), request.uri().query());
    let asked = knobs.get::<u32>(CAPACITY_HEADER, "capacity").ok().flatten();
    let capacity = asked.or(state.config.capacity).filter(|c| *c > 0);
    let place = match capacity {
        Some(capacity) => {
            let _waiting = state.metrics.waiting();
            // `None` never happens: the semaphore is never closed.
            state.lines.line(capacity).acquire_owned().await.ok()
        }
        None => None,
    };
    let running = state.metrics.running();
    let response = next.run(request).await;
    if place.is_none() && response.body().size_hint().exact().is_some() {
        return response; // keeps its content-length
    }
    hold_until_sent(response, (place, running))
}

/// `response` with its body re-streamed so that `held` lives until the body's last chunk has been taken or
/// the body is dropped (the client went away), whichever comes first.
pub fn hold_until_sent(response: Response, held: impl Send + 'static) -> Response {
    let (parts, body) = response.into_parts();
    let body = futures_util::stream::unfold((body.into_data_stream(), held), |(mut body, held)| async move {
        let chunk = body.next().await?; // at the end, `held` is dropped here
        Some((chunk, (body, held)))
    });
    Response::from_parts(parts, Body::from_stream(body))
}
