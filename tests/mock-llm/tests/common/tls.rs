//! The TLS side of the harness: starts the server in `--tls` mode, opens TLS connections that accept its
//! self-signed certificate (issuer unchecked, but the name must match, as a browser told to ignore the
//! issuer still sends SNI), and speaks HTTP/2 on one connection with the `h2` crate, which also reports the
//! server's stream limit. HTTP/1.1 over TLS goes through [`Request::send_on`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{self, Method};
use mock_llm::Config;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{is_sse, Body, Request, Response, HANG_GUARD};

/// Starts `app_with(config)` over TLS on 127.0.0.1:0 with a fresh certificate and returns its address.
pub async fn start_tls(config: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = mock_llm::tls::self_signed().unwrap();
    tokio::spawn(mock_llm::tls::serve(listener, tls, mock_llm::app_with(config)));
    addr
}

/// Opens a TLS connection to `addr` for `server_name` (`localhost`, `127.0.0.1`), offering `alpn`.
pub async fn connect(addr: SocketAddr, server_name: &str, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    try_connect(addr, server_name, alpn)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake as {server_name} failed: {e}"))
}

/// [`connect`], returning a failed handshake (such as a name the certificate does not cover).
pub async fn try_connect(
    addr: SocketAddr,
    server_name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyIssuer(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    tokio::time::timeout(
        HANG_GUARD,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake hung")
}

/// The protocol the server chose by ALPN.
pub fn alpn(stream: &TlsStream<TcpStream>) -> Option<&[u8]> {
    stream.get_ref().1.alpn_protocol()
}

/// Accepts a certificate from any issuer (the mock's is self-signed) if it names the server, and checks
/// handshake signatures as usual.
#[derive(Debug)]
struct AnyIssuer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyIssuer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        rustls::client::verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One HTTP/2 connection; every request sent through it is a stream on that connection.
pub struct H2 {
    sender: h2::client::SendRequest<Bytes>,
    authority: String,
}

impl H2 {
    /// Offers `h2` and `http/1.1` as a browser does, expects the server to pick `h2`, and starts HTTP/2.
    pub async fn connect(addr: SocketAddr) -> H2 {
        let tls = connect(addr, "localhost", &[b"h2", b"http/1.1"]).await;
        assert_eq!(alpn(&tls), Some(&b"h2"[..]), "ALPN did not pick h2");
        let (sender, connection) = h2::client::handshake(tls).await.expect("HTTP/2 handshake failed");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        H2 {
            sender,
            authority: format!("localhost:{}", addr.port()),
        }
    }

    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` as last received (known once a response has come).
    pub fn max_concurrent_streams(&self) -> usize {
        self.sender.current_max_send_streams()
    }

    /// Sends `request` as a new stream and reads the whole response.
    pub async fn send(&self, request: &Request) -> Response {
        tokio::time::timeout(HANG_GUARD, async { self.start(request).await.finish().await })
            .await
            .expect("server hung")
    }

    /// Sends `request` as a new stream and waits for the response head only.
    pub async fn start(&self, request: &Request) -> Started {
        let mut head = http::Request::builder()
            .method(Method::from_bytes(request.method.as_bytes()).unwrap())
            .uri(format!("https://{}{}", self.authority, request.path));
        for (name, value) in &request.headers {
            // `:authority` carries the host in HTTP/2.
            if !name.eq_ignore_ascii_case("host") {
                head = head.header(name, value);
            }
        }
        let head = head.body(()).unwrap();
        let mut sender = self.sender.clone().ready().await.expect("connection closed");
        let sent_at = Instant::now();
        let (response, mut send) = sender.send_request(head, request.body.is_empty()).unwrap();
        if !request.body.is_empty() {
            send.send_data(Bytes::from(request.body.clone()), true).unwrap();
        }
        let response = response.await.expect("no response head");
        let (parts, recv) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
            .collect();
        Started {
            version: format!("{:?}", parts.version),
            status: parts.status.as_u16(),
            headers,
            recv,
            sent_at,
        }
    }
}

/// A response whose head has arrived and whose body has not been read.
pub struct Started {
    version: String,
    pub status: u16,
    headers: Vec<(String, String)>,
    recv: h2::RecvStream,
    sent_at: Instant,
}

impl Started {
    /// Reads the body to its end (or a reset: then `complete` is false).
    pub async fn finish(mut self) -> Response {
        let content_type = self
            .headers
            .iter()
            .find(|(name, _)| name == "content-type")
            .map(|(_, v)| v.as_str());
        let mut body = Body::new(is_sse(content_type));
        let mut complete = true;
        while let Some(data) = self.recv.data().await {
            match data {
                Ok(data) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    body.push(&data);
                }
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        Response {
            version: self.version,
            status: self.status,
            headers: self.headers,
            body: body.bytes,
            events: body.events,
            pieces: body.pieces,
            complete,
            sent_at: self.sent_at,
        }
    }
}
