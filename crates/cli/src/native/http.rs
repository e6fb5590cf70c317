//! The native engine's transport: hyper over rustls (HTTP/1.1, and HTTP/2 where the server offers it by ALPN),
//! with no per-host connection cap. Each body chunk is stamped the moment hyper hands it over, before anything
//! decodes it; dropping the response future or its body aborts the request, as in the page.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use futures::future::LocalBoxFuture;
use futures::stream;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use tokenmeter_core::record::{ErrorKind, RequestError};
use tokenmeter_engine::{Chunk, Clock, HttpResponse, Transport};
use tokenmeter_protocol::HttpRequest;

use super::clock::NativeClock;

type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One client per engine: connections are pooled and kept alive, as a browser keeps them.
#[derive(Clone)]
pub struct NativeHttp {
    client: HyperClient,
    clock: NativeClock,
    /// The HTTP version of the last response (`http/1.1`, `h2`).
    protocol: Rc<RefCell<Option<String>>>,
}

impl NativeHttp {
    pub fn new(clock: NativeClock) -> NativeHttp {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::MAX)
            .build(https);
        NativeHttp {
            client,
            clock,
            protocol: Rc::default(),
        }
    }
}

fn network(message: impl std::fmt::Display) -> RequestError {
    RequestError::new(
        ErrorKind::Network,
        format!("the request got no response: {message}"),
    )
}

impl Transport for NativeHttp {
    fn send(&self, request: HttpRequest) -> LocalBoxFuture<'static, Result<HttpResponse, RequestError>> {
        let (client, clock, protocol) = (self.client.clone(), self.clock, self.protocol.clone());
        Box::pin(async move {
            let mut builder = hyper::Request::builder()
                .method(request.method.as_str())
                .uri(request.url.as_str());
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let built = builder.body(Full::new(Bytes::from(request.body))).map_err(|e| {
                RequestError::new(ErrorKind::Network, format!("the request cannot be built: {e}"))
            })?;
            let response = client.request(built).await.map_err(|e| {
                let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
                network(detail)
            })?;
            let headers_at = clock.now();
            let version = match response.version() {
                hyper::Version::HTTP_2 => "h2",
                hyper::Version::HTTP_3 => "h3",
                hyper::Version::HTTP_10 => "http/1.0",
                _ => "http/1.1",
            };
            protocol.borrow_mut().replace(version.to_owned());
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = response.into_body();
            let chunks = stream::unfold(Some(body), move |body| async move {
                let mut body = body?;
                loop {
                    match body.frame().await {
                        None => return None,
                        Some(Err(e)) => {
                            let error =
                                RequestError::new(ErrorKind::Stream, format!("the response broke off: {e}"));
                            return Some((Err(error), None));
                        }
                        Some(Ok(frame)) => {
                            let received_at = clock.now();
                            if let Ok(data) = frame.into_data() {
                                if !data.is_empty() {
                                    let chunk = Chunk {
                                        bytes: data.to_vec(),
                                        received_at,
                                    };
                                    return Some((Ok(chunk), Some(body)));
                                }
                            }
                        }
                    }
                }
            });
            Ok(HttpResponse {
                status,
                headers,
                headers_at,
                body: Box::pin(chunks),
            })
        })
    }

    fn protocol(&self) -> Option<String> {
        self.protocol.borrow().clone()
    }
}
