//! The server's capacity: at most N model requests are served at once and the rest wait in line (first come,
//! first served), so above N the time to first token grows by the wait, as a real server's does above its
//! batch size. An SLO search has a knee to find. Off unless set: `MOCK_CAPACITY` ([`crate::Config::capacity`]),
//! or per request `x-mock-capacity` / `?capacity=` (requests naming the same capacity share one line).
//!
//! A request holds its place until its response body has been sent or dropped (a client that disconnects frees
//! it), so the wait covers whole generations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
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

/// Middleware: waits for a place when a capacity applies, and keeps it until the response body is done.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let knobs = Knobs::new(request.headers(), request.uri().query());
    let asked = knobs.get::<u32>(CAPACITY_HEADER, "capacity").ok().flatten();
    let capacity = asked.or(state.config.capacity).filter(|c| *c > 0);
    let Some(capacity) = capacity.filter(|_| request.method() == Method::POST) else {
        return next.run(request).await;
    };
    let Ok(place) = state.lines.line(capacity).acquire_owned().await else {
        return next.run(request).await; // the semaphore is never closed
    };
    let (parts, body) = next.run(request).await.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held_until_the_body_ends = &place;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}
