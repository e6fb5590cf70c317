//! `--tls`: HTTPS on a self-signed certificate with ALPN `h2` preferred, as a browser needs to run more than
//! 6 streams against one origin. ALPN and the certificate's names, many concurrent streams on one HTTP/2
//! connection, CORS over HTTP/2, HTTP/1.1 over TLS, and the real binary's `https` line and SIGTERM drain.

mod common;

use std::time::{Duration, Instant};

use common::tls::{alpn, connect, start_tls, try_connect, H2};
use common::{chat_body, fast, Request};
use futures_util::future::join_all;
use tokenmeter_protocol::Api;

const ORIGIN: &str = "http://localhost:8080";
const HTTP2: &str = "HTTP/2.0";

#[tokio::test]
async fn alpn_picks_h2_and_streams_decode_over_http2() {
    let addr = start_tls(fast()).await;
    let h2 = H2::connect(addr).await; // offers h2 and http/1.1, asserts h2 was picked

    let health = h2.send(&Request::new("GET", "/health")).await;
    assert_eq!(health.version, HTTP2);
    assert_eq!(health.status, 200);
    assert_eq!(health.text(), "ok");

    let stream = h2.send(&Request::chat("?tokens=5", chat_body(true, "hi"))).await;
    assert_eq!(stream.version, HTTP2);
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    // HTTP/2 has no chunked encoding: the connection-specific header must not leak into the frames.
    assert_eq!(stream.header("transfer-encoding"), None);
    assert!(stream.complete && stream.ends_with_done());
    let decoded = stream.decode(Api::OpenAiChat, true);
    assert_eq!(decoded.end, Ok(()));
    assert!(decoded.complete);
    assert_eq!(decoded.outputs(), 5);
}

#[tokio::test]
async fn the_certificate_names_localhost_and_127_0_0_1_only() {
    let addr = start_tls(fast()).await;
    for name in ["localhost", "127.0.0.1"] {
        let tls = connect(addr, name, &[b"h2", b"http/1.1"]).await;
        assert_eq!(alpn(&tls), Some(&b"h2"[..]), "{name}");
    }
    assert!(try_connect(addr, "example.com", &[b"h2"]).await.is_err());
}

#[tokio::test]
async fn an_http1_client_gets_http1_over_tls() {
    let addr = start_tls(fast()).await;
    let tls = connect(addr, "127.0.0.1", &[b"http/1.1"]).await;
    assert_eq!(alpn(&tls), Some(&b"http/1.1"[..]));
    let response = Request::chat("?tokens=3", chat_body(true, "hi"))
        .send_on(tls, addr)
        .await;
    assert_eq!(response.version, "HTTP/1.1");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert!(response.complete && response.ends_with_done());
    assert_eq!(response.content_events().len(), 3);

    // No ALPN at all (an old client): HTTP/1.1 too.
    let tls = connect(addr, "localhost", &[]).await;
    assert_eq!(alpn(&tls), None);
    let health = Request::new("GET", "/health").send_on(tls, addr).await;
    assert_eq!((health.version.as_str(), health.status), ("HTTP/1.1", 200));
}

/// The point of `--tls`: 32 streams on ONE connection all wait out their TTFT together. Were they served
/// one after another, 32 would take 32 × TTFT; the bound is a quarter of that, loose enough for a slow
/// machine. The server's advertised stream limit is checked too, exactly.
#[tokio::test]
async fn thirty_two_streams_on_one_connection_run_concurrently() {
    const STREAMS: u64 = 32;
    const TTFT_MS: u64 = 200;
    let addr = start_tls(fast()).await;
    let h2 = H2::connect(addr).await;
    // One exchange first, so the client has the server's SETTINGS and would queue streams above its limit
    // (as a browser does) instead of opening them all at once and having the excess refused.
    assert_eq!(h2.send(&Request::new("GET", "/health")).await.status, 200);
    let request = Request::chat(
        &format!("?ttft_ms={TTFT_MS}&itl_ms=10&tokens=3"),
        chat_body(true, "hi"),
    );

    let started = Instant::now();
    let responses = join_all((0..STREAMS).map(|_| h2.send(&request))).await;
    let wall = started.elapsed();

    let mut first_tokens = Vec::new();
    for response in &responses {
        assert_eq!(response.version, HTTP2);
        assert_eq!(response.status, 200);
        assert!(response.complete && response.ends_with_done());
        let tokens = response.content_events();
        assert_eq!(tokens.len(), 3);
        let first = response.elapsed(tokens[0].0.at);
        assert!(
            first >= Duration::from_millis(TTFT_MS),
            "first token after {first:?}"
        );
        first_tokens.push(first);
    }
    let slowest_first = first_tokens.iter().max().unwrap();
    eprintln!(
        "{STREAMS} streams on one HTTP/2 connection, TTFT {TTFT_MS} ms: all done in {wall:?}, slowest first \
         token {slowest_first:?}"
    );
    let bound = Duration::from_millis(STREAMS * TTFT_MS / 4);
    assert!(
        wall < bound,
        "{STREAMS} streams took {wall:?}: serialized? (bound {bound:?})"
    );

    let limit = h2.max_concurrent_streams();
    assert_eq!(limit, mock_llm::tls::MAX_CONCURRENT_STREAMS as usize);
    assert!(limit >= 128, "server allows only {limit} concurrent streams");
}

#[tokio::test]
async fn cors_preflight_and_response_headers_over_http2() {
    let addr = start_tls(fast()).await;
    let h2 = H2::connect(addr).await;
    let requested = "authorization, content-type, x-mock-ttft-ms, anthropic-version, x-amz-date";
    let preflight = h2
        .send(
            &Request::new("OPTIONS", "/v1/chat/completions")
                .header("origin", ORIGIN)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", requested)
                .header("access-control-request-private-network", "true"),
        )
        .await;
    assert_eq!(preflight.version, HTTP2);
    assert!(
        (200..300).contains(&preflight.status),
        "preflight status {}",
        preflight.status
    );
    assert_eq!(preflight.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(preflight.header("access-control-allow-credentials"), Some("true"));
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let allowed = preflight.header("access-control-allow-headers").unwrap();
    for name in requested.split(", ") {
        assert!(allowed.contains(name), "{name} not in allow-headers {allowed:?}");
    }
    assert_eq!(
        preflight.header("access-control-allow-private-network"),
        Some("true")
    );

    for query in ["?tokens=1", "?status=429"] {
        let response = h2
            .send(&Request::chat(query, chat_body(true, "hi")).header("origin", ORIGIN))
            .await;
        assert_eq!(response.version, HTTP2);
        assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(response.header("timing-allow-origin"), Some("*"));
        let exposed = response.header("access-control-expose-headers").unwrap();
        for name in ["x-mock-request-id", "retry-after", "x-mock-tokens"] {
            assert!(exposed.contains(name), "{query}: {name} not exposed: {exposed}");
        }
    }
}

/// `mock-llm --tls` prints the https URL, speaks HTTP/2 there, and on SIGTERM lets an open stream finish
/// before exiting cleanly (not by the forced exit after the grace period).
#[cfg(unix)]
#[tokio::test]
async fn binary_with_tls_announces_https_and_drains_on_sigterm() {
    use tokio::io::AsyncReadExt;

    let (mut child, line, mut lines) = common::spawn_binary(&["--port", "0", "--tls"]).await;
    let port = line
        .strip_prefix("mock-llm listening on https://127.0.0.1:")
        .unwrap_or_else(|| panic!("got {line:?}"));
    let addr = format!("127.0.0.1:{port}").parse().unwrap();

    let h2 = H2::connect(addr).await;
    let health = h2.send(&Request::new("GET", "/health")).await;
    assert_eq!((health.version.as_str(), health.status), (HTTP2, 200));

    let open = h2
        .start(&Request::chat("?ttft_ms=300&tokens=3", chat_body(true, "hi")))
        .await;
    assert_eq!(open.status, 200);
    common::terminate(&child);
    let response = tokio::time::timeout(Duration::from_secs(30), open.finish())
        .await
        .unwrap();
    assert!(
        response.complete && response.ends_with_done(),
        "stream cut by shutdown"
    );
    assert_eq!(response.content_events().len(), 3);

    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(lines.next_line().await.unwrap(), None, "exactly one stdout line");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("mock-llm: TLS"), "{stderr}");
    assert!(!stderr.contains("exiting anyway"), "forced exit: {stderr}");
}
