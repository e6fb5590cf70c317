//! `--tls`: the same router over HTTPS, so a browser can speak HTTP/2 to it. Browsers use HTTP/2 only over
//! TLS, and over HTTP/1.1 Chromium opens at most 6 connections per origin, so a load test of 32 concurrent
//! streams against the plain server would queue inside the browser rather than measure anything.
//!
//! The certificate is self-signed, made at start for `localhost` and `127.0.0.1` and never written anywhere,
//! so a client accepts it explicitly (Chromium `--ignore-certificate-errors`, `curl -k`, a verifier that
//! trusts anything in a test). ALPN offers `h2` before `http/1.1`; hyper-util's auto builder serves whichever
//! the client speaks, HTTP/2 with up to [`MAX_CONCURRENT_STREAMS`] streams per connection. Plain HTTP goes
//! through `axum::serve` ([`crate::serve_with_shutdown`]); this module does the same job over TLS, since
//! `axum::serve` takes neither a TLS acceptor nor HTTP/2 settings.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::PrivateKeyDer;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// HTTP/2 streams a client may have open at once on one connection (hyper's default is 200; stated here
/// because a load test relies on it): far above the 32+ a browser test runs, so no stream waits for another.
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// The ALPN protocols offered, preferred first.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The names the certificate is valid for.
pub const SUBJECT_ALT_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A connection that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS server configuration with a fresh self-signed certificate for [`SUBJECT_ALT_NAMES`] (a DNS name
/// and an IP address SAN), ALPN [`ALPN`], TLS 1.3 and 1.2, on rustls's `ring` provider.
pub fn self_signed() -> Result<Arc<ServerConfig>, String> {
    let names = SUBJECT_ALT_NAMES.map(str::to_owned).to_vec();
    let key =
        rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot make a certificate: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(vec![key.cert.der().clone()], PrivateKeyDer::from(key.signing_key))
        })
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    config.alpn_protocols = ALPN.map(<[u8]>::to_vec).to_vec();
    Ok(Arc::new(config))
}

/// Serves `app` over TLS with `config` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, config: Arc<ServerConfig>, app: Router) -> io::Result<()> {
    serve_with_shutdown(listener, config, app, std::future::pending()).await
}

/// Serves `app` over TLS until `shutdown` resolves, then stops accepting, asks every connection to close
/// (HTTP/2 `GOAWAY`, HTTP/1.1 no keep-alive) and waits for open responses to finish.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // As in plain mode: Nagle's algorithm would hold back small SSE events.
        let _ = tcp.set_nodelay(true);
        // Taken before the handshake, so a connection that completes it after the shutdown signal is still
        // waited for (and told to close at once).
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                return;
            };
            // Errors are the client's going away; `axum::serve` ignores them too.
            let _ = watcher
                .watch(builder.serve_connection(TokioIo::new(tls), service))
                .await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What `axum::serve` does on an accept error: a vanished client is nothing; anything else (such as running
/// out of file descriptors) waits a second before accepting again.
async fn accept_error(e: io::Error) {
    if !matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        eprintln!("mock-llm: accept error: {e}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
