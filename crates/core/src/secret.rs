//! What counts as a secret, decided in one place for every writer (run files, IndexedDB, `.zip`s, Save
//! configuration, the command's output): names of credentials, and the values of extra headers, which are never
//! kept (a gateway's key can sit under any header name).

use serde_json::Value;

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

/// Removes credentials from a JSON document in place: keys named as credentials, `[name, value]` header pairs
/// whose name is one, and user-info and credential query parameters of URLs in strings.
pub fn scrub_credentials(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_credential_name(key));
            map.values_mut().for_each(scrub_credentials);
        }
        Value::Array(items) => {
            items.retain(|item| !is_credential_pair(item));
            items.iter_mut().for_each(scrub_credentials);
        }
        Value::String(text) => {
            if let Some(clean) = scrub_url(text) {
                *text = clean;
            }
        }
        _ => {}
    }
}

/// A `[name, value]` header pair whose name is a credential.
fn is_credential_pair(item: &Value) -> bool {
    matches!(item.as_array().map(Vec::as_slice), Some([Value::String(name), _]) if is_credential_name(name))
}

/// The URL without user-info and with credential query parameters removed; `None` when `text` is not a URL or
/// holds neither.
fn scrub_url(text: &str) -> Option<String> {
    let scheme_end = text.find("://")? + 3;
    let (head, rest) = text.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (path, query_and_fragment) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let (query, fragment) = match query_and_fragment.find('#') {
        Some(i) => query_and_fragment.split_at(i),
        None => (query_and_fragment, ""),
    };
    let kept: Vec<&str> = query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_credential_name(pair.split('=').next().unwrap_or_default()))
        .collect();
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let clean = format!("{head}{host}{path}{query}{fragment}");
    (clean != text).then_some(clean)
}

/// Whether a JSON document holds anything [`scrub_credentials`] would remove (cheap: no copy).
pub fn has_credentials(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| is_credential_name(k) || has_credentials(v)),
        Value::Array(items) => items.iter().any(|i| is_credential_pair(i) || has_credentials(i)),
        Value::String(text) => scrub_url(text).is_some(),
        _ => false,
    }
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
    fn a_payload_keeps_its_prompt_and_loses_its_keys() {
        let mut payload = serde_json::json!({"messages": [{"role": "user", "content": "hi"}],
            "metadata": {"api_key": "sk-1", "note": "see https://u:p@h/x?token=t&x=1"}});
        assert!(has_credentials(&payload));
        scrub_credentials(&mut payload);
        assert_eq!(
            payload,
            serde_json::json!({"messages": [{"role": "user", "content": "hi"}],
            "metadata": {"note": "see https://h/x?x=1"}})
        );
        assert!(!has_credentials(&payload));
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
