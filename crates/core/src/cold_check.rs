//! The cold-start check: one untimed request per origin sent before a run. It confirms the endpoint and the
//! credentials, and warms what only the first request pays for (the CORS preflight and the connection), so the
//! run's first requests are timed like the rest. A failed check stops the run with its reason instead of
//! producing a run full of errors.

use serde::{Deserialize, Serialize};

use crate::address_space::address_space;
use crate::record::{ErrorKind, RequestRecord};

/// The check's result, as written to `run_config.json` (`tokenmeter_check`) and shown in the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdCheck {
    /// `scheme://host:port` of the endpoint.
    pub origin: String,
    pub ok: bool,
    pub http_status: Option<u16>,
    /// Seconds from sending to the end of the response: preflight, connection set-up and one whole answer.
    pub duration_secs: f64,
    /// The failure's kind (`ErrorKind` name), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ColdCheck {
    /// The check that `record` (the check request's record) makes for `origin`.
    pub fn of(origin: &str, record: &RequestRecord) -> ColdCheck {
        let timing = &record.timing;
        ColdCheck {
            origin: origin.to_owned(),
            ok: record.error.is_none(),
            http_status: record.http_status,
            duration_secs: timing.ended_at.secs_since(timing.dispatched_at),
            error_kind: record.error.as_ref().map(|e| e.kind.as_str().to_owned()),
            error: record.error.as_ref().map(|e| e.message.clone()),
        }
    }

    /// Why the run cannot go on, and what to do, when the check failed.
    pub fn failure(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        let kind = self.error_kind.as_deref().and_then(ErrorKind::parse);
        let what = match kind {
            Some(ErrorKind::Network) if address_space(&self.origin).is_some() => {
                "the endpoint could not be reached, or it refused this page's origin (CORS), or the browser's Local \
                 Network Access permission for this site was refused (a page on a public origin needs it to reach \
                 this machine or a private network: allow \"Local network access\" in the site's settings)"
            }
            Some(ErrorKind::Network) => "the endpoint could not be reached, or it refused this page's origin (CORS)",
            Some(ErrorKind::Auth) => {
                "the credentials were refused (HTTP 401 or 403); for AWS, \"Signature expired\" or \"not yet current\" \
                 means this computer's clock is more than 5 minutes off"
            }
            Some(ErrorKind::Throttled) => "the endpoint is throttling requests already",
            Some(ErrorKind::Timeout) => "it got no complete answer within the request timeout",
            Some(ErrorKind::Decode | ErrorKind::Stream | ErrorKind::Provider) => {
                "the answer was not what the chosen API sends (check the API, the URL and the model)"
            }
            Some(ErrorKind::InvalidRequest) => "the endpoint refused the request body (check the model and payload)",
            Some(ErrorKind::HttpStatus) | None => "the endpoint answered with an error",
            Some(ErrorKind::Cancelled | ErrorKind::CancelledByDesign) => "it was stopped",
        };
        let status = self
            .http_status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        let detail = self.error.as_deref().unwrap_or("no detail");
        Some(format!(
            "The check request to {} failed{status}: {what}. The run did not start. Detail: {detail}. (The check \
             can be turned off in the advanced settings.)",
            self.origin
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RequestError;
    use crate::time::Timestamp;

    fn record(status: Option<u16>, error: Option<RequestError>) -> RequestRecord {
        let mut r = RequestRecord::default();
        r.timing.dispatched_at = Timestamp::from_millis_f64(10.0);
        r.timing.ended_at = Timestamp::from_millis_f64(260.0);
        r.http_status = status;
        r.error = error;
        r
    }

    #[test]
    fn a_passed_check_records_its_time_and_stops_nothing() {
        let check = ColdCheck::of("http://127.0.0.1:8787", &record(Some(200), None));
        assert!(check.ok);
        assert!((check.duration_secs - 0.25).abs() < 1e-9);
        assert_eq!(check.failure(), None);
    }

    #[test]
    fn a_failed_check_names_the_origin_the_status_and_the_cause() {
        let auth = RequestError::new(ErrorKind::Auth, "Signature expired");
        let check = ColdCheck::of(
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            &record(Some(403), Some(auth)),
        );
        let reason = check.failure().unwrap();
        assert!(
            reason.contains("bedrock-runtime.us-east-1.amazonaws.com"),
            "{reason}"
        );
        assert!(reason.contains("HTTP 403"), "{reason}");
        assert!(reason.contains("clock"), "{reason}");
        assert!(reason.contains("Signature expired"), "{reason}");
        let cors = ColdCheck::of(
            "http://x",
            &record(None, Some(RequestError::new(ErrorKind::Network, "failed"))),
        );
        assert!(cors.failure().unwrap().contains("CORS"));
        let json = serde_json::to_value(&cors).unwrap();
        assert_eq!(json["error_kind"], "network");
        assert_eq!(serde_json::from_value::<ColdCheck>(json).unwrap(), cors);
    }
}
