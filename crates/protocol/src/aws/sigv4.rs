//! Authenticating AWS requests made from a page: SigV4 signing with the `aws-sigv4` crate (services `bedrock` and
//! `sagemaker`), or a Bedrock API key sent as `Authorization: Bearer`.
//!
//! Only what `fetch` really sends is signed. `host` is signed as the browser will send it (the URL's host, plus
//! `:port` when it is not the scheme's default) but never added to the request, since a page may not set it;
//! every other forbidden request header (`content-length`, `date`, `origin`, …) is removed and never signed. The
//! signature adds `x-amz-date`, `authorization`, `x-amz-security-token` (temporary credentials) and, when asked,
//! `x-amz-content-sha256`. The signing time is an argument: `SystemTime::now()` panics on wasm32, so the caller
//! builds it from the page's clock.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use thiserror::Error;

use crate::{Credential, HttpRequest};

/// An AWS access key: the id, its secret, and the session token of temporary (STS) credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Credential,
    pub session_token: Option<Credential>,
}

impl AwsCredentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        AwsCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Credential::new(secret_access_key),
            session_token: session_token.map(Credential::new),
        }
    }
}

/// Shows the first four characters of the key id (`AKIA…` for long-term keys, `ASIA…` for temporary ones) and
/// nothing of the secrets.
impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.access_key_id.chars().take(4).collect();
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &format_args!("{prefix}…"))
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .finish()
    }
}

/// How a request to AWS proves who sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsAuth {
    /// SigV4 with an access key (signed per request, at the time the caller gives).
    SigV4(AwsCredentials),
    /// A Bedrock API key, sent as `Authorization: Bearer` (no signature). Bedrock only.
    BedrockApiKey(Credential),
    /// Nothing: for a proxy that signs upstream requests itself.
    None,
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot sign the request: {0}")]
pub struct SigningError(pub String);

/// Request headers `fetch` refuses to set (the Fetch standard's forbidden request-header names); names starting
/// with `proxy-` or `sec-` are forbidden too.
const FORBIDDEN_HEADERS: [&str; 21] = [
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
];

/// True for a header name a page may not set (so it must not be signed either).
pub fn is_forbidden_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") || lower.starts_with("sec-")
}

/// Headers a signature writes: any earlier copies are dropped first, so signing twice replaces the signature.
const SIGNATURE_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// One SigV4 signing setup: a service (signing name), a region and a key.
#[derive(Debug, Clone, Copy)]
pub struct SigV4<'a> {
    /// The signing name: `bedrock` for bedrock-runtime, `sagemaker` for runtime.sagemaker.
    pub service: &'a str,
    pub region: &'a str,
    pub credentials: &'a AwsCredentials,
    /// Send (and sign) `x-amz-content-sha256` with the payload's hash. Bedrock and SageMaker accept it.
    pub content_sha256: bool,
}

impl SigV4<'_> {
    /// Signs `request` in place for `time`: removes forbidden and stale signature headers, then adds the
    /// signature's headers. The URL must be absolute (`http` or `https`) and already percent-encoded.
    pub fn sign(&self, request: &mut HttpRequest, time: SystemTime) -> Result<(), SigningError> {
        request
            .headers
            .retain(|(name, _)| !is_forbidden_header(name) && !is_signature_header(name));
        let mut settings = SigningSettings::default();
        if self.content_sha256 {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let added = self.signature_headers(request, SignableBody::Bytes(&request.body), settings, time)?;
        request.headers.extend(added);
        Ok(())
    }

    /// The headers a signature of `request` (taken as it is) adds.
    fn signature_headers(
        &self,
        request: &HttpRequest,
        body: SignableBody<'_>,
        settings: SigningSettings,
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, SigningError> {
        let url = canonical_url(&request.url)?;
        let identity: Identity = Credentials::new(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.expose(),
            self.credentials
                .session_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
            None,
            "tokenmeter",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| SigningError(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            &request.method,
            url,
            request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            body,
        )
        .map_err(|e| SigningError(format!("{e} ({})", request.url)))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SigningError(error_chain(&e)))?
            .into_parts();
        let (headers, _params) = instructions.into_parts();
        Ok(headers
            .iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect())
    }
}

/// What a verified signature said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signing time (`x-amz-date`): compare it with the server's clock for skew.
    pub time: SystemTime,
    pub region: String,
    pub service: String,
}

/// Checks the SigV4 signature of a request as a server received it (for a server that imitates AWS, such as the
/// mock): `request.url` is built from the `Host` header it received, `request.headers` are all it received. The
/// signature is recomputed over exactly the headers the client signed (forbidden ones included: an SDK outside a
/// browser may sign `content-length`), so a wrong secret, a changed header or a changed body fails. The session
/// token, which only STS could check, is taken as sent.
pub fn verify(request: &HttpRequest, credentials: &AwsCredentials) -> Result<Verified, SigningError> {
    let fail = |why: String| Err(SigningError(why));
    let Some(auth) = request.header("authorization") else {
        return fail("no Authorization header".into());
    };
    let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return fail("not an AWS4-HMAC-SHA256 signature".into());
    };
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
    };
    let (Some(scope), Some(signed)) = (field("Credential"), field("SignedHeaders")) else {
        return fail("the Authorization header lacks Credential or SignedHeaders".into());
    };
    let scope: Vec<&str> = scope.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope[..] else {
        return fail(format!("a malformed credential scope: {}", scope.join("/")));
    };
    if key_id != credentials.access_key_id {
        return fail(format!("unknown access key {key_id}"));
    }
    let Some(amz_date) = request.header("x-amz-date") else {
        return fail("no x-amz-date header".into());
    };
    let Some(time) = parse_amz_date(amz_date).filter(|_| amz_date.starts_with(date)) else {
        return fail(format!(
            "x-amz-date {amz_date:?} does not match the scope date {date}"
        ));
    };
    let signed: Vec<&str> = signed.split(';').collect();
    let received = |name: &str| request.header(name).map(str::to_owned);
    let token = received("x-amz-security-token").filter(|_| signed.contains(&"x-amz-security-token"));
    let hash = received("x-amz-content-sha256").filter(|_| signed.contains(&"x-amz-content-sha256"));
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let body = match &hash {
        Some(value) => {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            if value != "UNSIGNED-PAYLOAD" && *value != sha256_hex(&request.body) {
                return fail("x-amz-content-sha256 does not match the body".into());
            }
            SignableBody::Precomputed(value.clone())
        }
        None => SignableBody::Bytes(&request.body),
    };
    let copy = HttpRequest {
        method: request.method.clone(),
        url: request.url.clone(),
        headers: request
            .headers
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                signed.contains(&k.as_str()) && k != "host" && !is_signature_header(&k)
            })
            .cloned()
            .collect(),
        body: Vec::new(),
    };
    let credentials = AwsCredentials {
        session_token: token.map(Credential::new),
        ..credentials.clone()
    };
    let signer = SigV4 {
        service,
        region,
        credentials: &credentials,
        content_sha256: hash.is_some(),
    };
    let expected = signer.signature_headers(&copy, body, settings, time)?;
    let expected = expected
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    if expected != Some(auth) {
        return fail("The request signature we calculated does not match the signature you provided.".into());
    }
    Ok(Verified {
        time,
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// `x-amz-date` (`20150830T123600Z`) as a time.
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Adds a Bedrock API key to `request` as `Authorization: Bearer`, replacing any earlier authorization.
pub fn bearer(request: &mut HttpRequest, key: &Credential) {
    request
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    request
        .headers
        .push(("authorization".into(), format!("Bearer {}", key.expose())));
}

fn is_signature_header(name: &str) -> bool {
    SIGNATURE_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// An error with its sources, since `aws-sigv4`'s own message is terse.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The URL as the browser will send it, for the signature: scheme and host lowercased (the URL parser does that),
/// everything else unchanged. Refuses what is not an absolute http(s) URL with a host, which `aws-sigv4` would
/// otherwise panic on.
fn canonical_url(url: &str) -> Result<String, SigningError> {
    let bad = |why: &str| SigningError(format!("{why}: {url}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not an absolute URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("not an http(s) URL"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(bad("credentials in the URL"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let host_ok = |c: char| c.is_ascii_alphanumeric() || "-._:".contains(c);
    if host.is_empty() || !host.chars().all(host_ok) {
        return Err(bad("no valid host"));
    }
    let tail = tail.split('#').next().unwrap_or("");
    let path = if tail.is_empty() || tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_owned()
    };
    Ok(format!("{scheme}://{}{path}", authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn credentials() -> AwsCredentials {
        AwsCredentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
        )
    }

    #[test]
    fn debug_redacts_every_secret() {
        let text = format!("{:?}", credentials());
        assert!(!text.contains("wJalr") && !text.contains("session-token") && !text.contains("EXAMPLE"));
        assert!(text.contains("AKID…") && text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn urls_are_checked_before_the_signer_sees_them() {
        assert_eq!(
            canonical_url("HTTPS://Bedrock-Runtime.us-east-1.amazonaws.com").unwrap(),
            "https://bedrock-runtime.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            canonical_url("http://127.0.0.1:8787/model/m/converse?x=1#frag").unwrap(),
            "http://127.0.0.1:8787/model/m/converse?x=1"
        );
        assert_eq!(canonical_url("http://[::1]:80/p").unwrap(), "http://[::1]:80/p");
        for bad in [
            "/model/x",
            "ftp://h/x",
            "http:///x",
            "http://u:p@h/x",
            "http://h st/x",
        ] {
            assert!(canonical_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forbidden_and_stale_headers_are_dropped_and_host_is_never_added() {
        let mut request = HttpRequest {
            method: "POST".into(),
            url: "http://localhost:8787/endpoints/e/invocations".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Content-Length".into(), "2".into()),
                ("Host".into(), "evil".into()),
                ("Sec-Fetch-Mode".into(), "cors".into()),
                ("Authorization".into(), "old".into()),
            ],
            body: b"{}".to_vec(),
        };
        let signer = SigV4 {
            service: "sagemaker",
            region: "eu-west-1",
            credentials: &credentials(),
            content_sha256: true,
        };
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        signer.sign(&mut request, time).unwrap();
        signer.sign(&mut request, time).unwrap(); // idempotent
        let names: Vec<String> = request
            .headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        assert_eq!(
            names,
            [
                "content-type",
                "x-amz-date",
                "authorization",
                "x-amz-content-sha256",
                "x-amz-security-token"
            ]
        );
        let auth = request.header("authorization").unwrap();
        assert!(
            auth.contains(
                "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
            ),
            "{auth}"
        );
        assert!(
            auth.contains("/20231114/eu-west-1/sagemaker/aws4_request"),
            "{auth}"
        );
    }

    #[test]
    fn amz_dates_parse() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_440_938_160));
        assert_eq!(
            parse_amz_date("20000229T000000Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(951_782_400)
        );
        for bad in [
            "",
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "2015083xT123600Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_server_verifies_what_the_page_signed() {
        let creds = credentials();
        let mut request = HttpRequest {
            method: "POST".into(),
            url: "http://127.0.0.1:8787/model/m%3A0/converse-stream".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"messages":[]}"#.to_vec(),
        };
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signer = SigV4 {
            service: "bedrock",
            region: "us-east-1",
            credentials: &creds,
            content_sha256: true,
        };
        signer.sign(&mut request, time).unwrap();
        // What the server sees: the browser's own headers too, and Host.
        request.headers.push(("Host".into(), "127.0.0.1:8787".into()));
        request.headers.push(("Content-Length".into(), "15".into()));
        let verified = verify(&request, &creds).unwrap();
        assert_eq!(
            verified,
            Verified {
                time,
                region: "us-east-1".into(),
                service: "bedrock".into()
            }
        );

        let mut tampered = request.clone();
        tampered.body = br#"{"messages":[1]}"#.to_vec();
        assert!(verify(&tampered, &creds).is_err());
        let wrong = AwsCredentials::new("AKIDEXAMPLE", "other", None);
        assert!(verify(&request, &wrong).unwrap_err().0.contains("does not match"));
        let mut moved = request.clone();
        moved.url = "http://localhost:8787/model/m%3A0/converse-stream".into();
        assert!(verify(&moved, &creds).is_err(), "host is signed");
    }
}
