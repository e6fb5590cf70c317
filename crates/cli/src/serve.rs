//! The page over HTTP with the hosting headers README's "Publishing the page" asks for: the page's own
//! Content-Security-Policy (read from the built `index.html`) plus `frame-ancestors 'none'`, COOP and COEP (so
//! the page is cross-origin isolated and times to 5 µs), `nosniff`, and `no-cache` (a local server always serves
//! the build as it is now). `tokenmeter serve` and the browser engine both use it.

use std::net::SocketAddr;
use std::path::Path;

use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::CliError;

/// A page being served; dropping it stops the server.
pub struct Served {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The policy `index.html` carries in its `<meta http-equiv="Content-Security-Policy">`.
pub fn page_policy(index_html: &str) -> Option<String> {
    let at = index_html.find("http-equiv=\"Content-Security-Policy\"")?;
    let rest = &index_html[at..];
    let start = rest.find("content=\"")? + "content=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}

/// Serves `dist` on `addr` (port 0: any free port).
pub async fn serve(dist: &Path, addr: &str) -> Result<Served, CliError> {
    let index = std::fs::read_to_string(dist.join("index.html")).map_err(|e| {
        CliError::Config(format!(
            "{}/index.html cannot be read ({e}): build the page first (`trunk build --release`, or scripts/serve.sh)",
            dist.display()
        ))
    })?;
    let policy = page_policy(&index).ok_or_else(|| {
        CliError::Config(format!(
            "{}/index.html carries no Content-Security-Policy",
            dist.display()
        ))
    })?;
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| CliError::Config(e.to_string()));
    let headers: Vec<(HeaderName, HeaderValue)> = vec![
        (
            header::CONTENT_SECURITY_POLICY,
            value(&format!("{policy}; frame-ancestors 'none'"))?,
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            value("same-origin")?,
        ),
        (
            HeaderName::from_static("cross-origin-embedder-policy"),
            value("require-corp")?,
        ),
        (header::X_CONTENT_TYPE_OPTIONS, value("nosniff")?),
        (header::CACHE_CONTROL, value("no-cache")?),
    ];
    let mut router = Router::new().fallback_service(ServeDir::new(dist));
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Config(format!("cannot listen on {addr}: {e}")))?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Served { addr, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_read_from_the_meta_tag() {
        let html = r#"<meta http-equiv="Content-Security-Policy" content="default-src 'self'; object-src 'none'" />"#;
        assert_eq!(
            page_policy(html).as_deref(),
            Some("default-src 'self'; object-src 'none'")
        );
        assert_eq!(page_policy("<html></html>"), None);
    }
}
