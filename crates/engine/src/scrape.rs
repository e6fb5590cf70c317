//! Scrapes the server's Prometheus `/metrics` page about once a second while a run goes on (issue 19), from the
//! engine (the page's worker, or the command's thread) through the run's own transport. A scrape that fails —
//! refused by CORS or auth, not found, too slow — is counted with its reason, and the run goes on.

use std::cell::RefCell;
use std::time::Duration;

use futures::future::{self, Either};
use futures::StreamExt;

use crate::{Clock, Transport};
use tokenmeter_core::input::MetricsScrape;
use tokenmeter_core::server_metrics::ServerMetrics;
use tokenmeter_protocol::HttpRequest;

/// How often the page is scraped.
pub const EVERY: Duration = Duration::from_secs(1);
/// A scrape that has not finished this long after it was sent fails (and the next is not held up).
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The largest page read.
const MAX_BYTES: usize = 4 << 20;

/// Scrapes `scrape.url` into `into` every [`EVERY`] from now until dropped (it never ends by itself).
pub async fn scrape_every<T: Transport + ?Sized, C: Clock + ?Sized>(
    transport: &T,
    clock: &C,
    scrape: &MetricsScrape,
    into: &RefCell<ServerMetrics>,
) {
    loop {
        let started = clock.now();
        let read = Box::pin(get_text(transport, &scrape.url, MAX_BYTES));
        let outcome = match future::select(read, clock.sleep_until(started.plus(TIMEOUT))).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
        };
        let at = started.as_nanos() as f64 / 1e9;
        match outcome {
            Ok(text) => into.borrow_mut().add_scrape(at, &text, &scrape.named),
            Err(why) => into.borrow_mut().failed(&why),
        }
        clock.sleep_until(started.plus(EVERY)).await;
    }
}

/// `GET url` as text of at most `max_bytes`, or why it could not be read (refused, not 200, broke off, not UTF-8).
pub async fn get_text<T: Transport + ?Sized>(
    transport: &T,
    url: &str,
    max_bytes: usize,
) -> Result<String, String> {
    let request = HttpRequest {
        method: "GET".into(),
        url: url.to_owned(),
        headers: vec![("accept".into(), "text/plain".into())],
        body: Vec::new(),
    };
    let response = transport
        .send(request)
        .await
        .map_err(|e| format!("refused or unreachable (CORS, network): {}", e.message))?;
    if response.status != 200 {
        return Err(format!("HTTP {}", response.status));
    }
    let mut body = response.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("the page broke off: {}", e.message))?;
        bytes.extend_from_slice(&chunk.bytes);
        if bytes.len() > max_bytes {
            return Err(format!("the page is over {} MiB", max_bytes >> 20));
        }
    }
    String::from_utf8(bytes).map_err(|_| "the page is not UTF-8 text".to_owned())
}
