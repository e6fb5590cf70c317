//! Past a browser's 6 connections per host: a plain-`http://` target on this machine is reached under several
//! names, `c0.localhost`, `c1.localhost`, …, which the browser resolves to loopback itself and counts as separate
//! hosts, each with its own 6 connections (up to the 256 sockets a browser profile holds in all; see
//! `shared/docs/scale-out.md`). Closed-loop client `c` always uses alias `c / 6`, so no alias carries more than 6
//! requests at once; open-loop slots are spread the same way.
//!
//! Pure: the engine asks [`FanOut::plan`] once per run and [`FanOutPlan::url_for`] per request.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::address_space::{address_space, AddressSpace};

/// Connections a browser opens to one host over HTTP/1.1.
pub const HTTP1_CONNECTIONS_PER_HOST: u32 = 6;
/// Sockets one browser profile holds in all (Chromium's soft cap per pool).
pub const BROWSER_SOCKETS: u32 = 256;

/// The `fan_out` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanOut {
    /// Fan out when a plain-HTTP local target would otherwise queue in the browser.
    #[default]
    Auto,
    Off,
}

impl FromStr for FanOut {
    type Err = String;

    fn from_str(text: &str) -> Result<FanOut, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" | "on" | "true" | "1" => Ok(FanOut::Auto),
            "off" | "false" | "0" => Ok(FanOut::Off),
            other => Err(format!("use auto or off (got {other:?})")),
        }
    }
}

impl fmt::Display for FanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FanOut::Auto => "auto",
            FanOut::Off => "off",
        })
    }
}

/// How one run's requests spread over host aliases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanOutPlan {
    /// `http://` (the scheme and nothing else).
    scheme: String,
    /// `:8787`, or empty for the default port.
    port: String,
    /// How many `c{k}.localhost` names are used.
    pub aliases: u32,
}

impl FanOut {
    /// The aliases for a run of at most `max_in_flight` requests at once to `url`, when this setting, the
    /// browser's cap and the URL call for them: `Auto`, more than 6 in flight, and a plain-`http://` URL whose
    /// host is this machine (`localhost`, `127.0.0.1`, `[::1]`, or already a `*.localhost` name).
    pub fn plan(self, url: &str, max_in_flight: Option<u32>) -> Option<FanOutPlan> {
        if self == FanOut::Off {
            return None;
        }
        let in_flight = max_in_flight?;
        if in_flight <= HTTP1_CONNECTIONS_PER_HOST {
            return None;
        }
        let port = local_http_port(url)?;
        let aliases = in_flight
            .div_ceil(HTTP1_CONNECTIONS_PER_HOST)
            .min(BROWSER_SOCKETS / HTTP1_CONNECTIONS_PER_HOST);
        Some(FanOutPlan {
            scheme: "http://".into(),
            port,
            aliases,
        })
    }
}

impl FanOutPlan {
    /// The alias host client (or slot) `client` uses: `c{client / 6}.localhost`, wrapped round the aliases.
    pub fn host_for(&self, client: u32) -> String {
        format!(
            "c{}.localhost",
            (client / HTTP1_CONNECTIONS_PER_HOST) % self.aliases
        )
    }

    /// `url` with its host replaced by client `client`'s alias (path and query kept as they are).
    pub fn url_for(&self, url: &str, client: u32) -> String {
        let rest = &url[self.scheme.len()..];
        let path_at = rest.find(['/', '?']).unwrap_or(rest.len());
        format!(
            "{}{}{}{}",
            self.scheme,
            self.host_for(client),
            self.port,
            &rest[path_at..]
        )
    }

    /// The most requests the browser can then have in flight at once to the target.
    pub fn connection_cap(&self) -> u32 {
        (self.aliases * HTTP1_CONNECTIONS_PER_HOST).min(BROWSER_SOCKETS)
    }
}

/// The warning a run deserves when its requests may wait inside the browser instead of at the server: at most
/// `max_in_flight` requests at once to `origin` (`None`: the simulated model), with `fan_out` as set. `None`
/// when the browser will not queue them.
pub fn connection_warning(
    origin: Option<&str>,
    max_in_flight: Option<u32>,
    fan_out: FanOut,
) -> Option<String> {
    let origin = origin?;
    let limit = HTTP1_CONNECTIONS_PER_HOST;
    let in_flight = max_in_flight.unwrap_or(u32::MAX);
    if in_flight <= limit {
        return None;
    }
    if let Some(plan) = fan_out.plan(origin, max_in_flight) {
        let cap = plan.connection_cap();
        return (in_flight > cap).then(|| {
            format!(
                "{origin} is reached under {} *.localhost names (fan-out) with {limit} connections each, but a browser                  holds at most {BROWSER_SOCKETS} sockets: beyond {cap} requests at once, the rest wait inside the                  browser. Split the run into browser shards (tokenmeter run --shards N) or use the native engine                  (tokenmeter run --engine native).",
                plan.aliases
            )
        });
    }
    if !origin.starts_with("http://") {
        return Some(format!(
            "If {origin} does not speak HTTP/2, the browser opens at most {limit} connections to it and further              requests wait inside the browser. That wait is shown as browser queue time only when the server sends              Timing-Allow-Origin; otherwise it is hidden in TTFT."
        ));
    }
    let local = local_http_port(origin).is_some();
    let ways = if local {
        "Set fan-out to auto to spread the clients over *.localhost names (6 connections each)".to_owned()
    } else {
        "To go past it: split the run into browser shards (tokenmeter run --shards N), use the native engine          (tokenmeter run --engine native), or tunnel the server to this machine (ssh -L 8000:HOST:8000 …) and          measure http://localhost:8000, which fan-out spreads over *.localhost names"
            .to_owned()
    };
    Some(format!(
        "{origin} is plain HTTP, so the browser speaks HTTP/1.1 to it and opens at most {limit} connections:          requests beyond that wait inside the browser (their wait shows as browser queue time, and in TTFT).          {ways}. Use HTTPS with HTTP/2, or at most {limit} clients."
    ))
}

/// The `:port` (empty for the default) of a plain-`http://` URL on this machine; `None` for any other URL.
fn local_http_port(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return None;
    }
    let port = match authority.strip_prefix('[') {
        Some(v6) => v6[v6.find(']')? + 1..].to_owned(),
        None => authority
            .rsplit_once(':')
            .map_or_else(String::new, |(_, p)| format!(":{p}")),
    };
    if !port.is_empty() && !port[1..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (address_space(url) == Some(AddressSpace::Loopback)).then_some(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_local_plain_http_target_past_six_in_flight_fans_out() {
        let plan = FanOut::Auto.plan("http://127.0.0.1:8787/v1", Some(64)).unwrap();
        assert_eq!(plan.aliases, 11);
        assert_eq!(plan.connection_cap(), 66);
        assert!(FanOut::Auto.plan("http://127.0.0.1:8787/v1", Some(6)).is_none());
        assert!(FanOut::Off.plan("http://127.0.0.1:8787/v1", Some(64)).is_none());
        assert!(
            FanOut::Auto.plan("https://127.0.0.1:8787/v1", Some(64)).is_none(),
            "TLS speaks HTTP/2"
        );
        assert!(
            FanOut::Auto.plan("http://10.0.0.5:8000/v1", Some(64)).is_none(),
            "not this machine"
        );
        assert!(FanOut::Auto.plan("http://localhost/v1", Some(64)).is_some());
        assert!(FanOut::Auto.plan("http://[::1]:8000/v1", Some(64)).is_some());
        assert!(FanOut::Auto.plan("http://127.0.0.1:8787/v1", None).is_none());
        assert!(
            FanOut::Auto
                .plan("http://127.0.0.1.evil.example/v1", Some(64))
                .is_none(),
            "a name, not loopback"
        );
    }

    #[test]
    fn no_alias_carries_more_than_six_clients_and_the_cap_is_the_browsers() {
        let plan = FanOut::Auto
            .plan("http://localhost:8000/v1?x=1", Some(64))
            .unwrap();
        let mut per_alias = std::collections::HashMap::new();
        for client in 0..64 {
            *per_alias.entry(plan.host_for(client)).or_insert(0) += 1;
        }
        assert!(per_alias.values().all(|n| *n <= 6), "{per_alias:?}");
        assert_eq!(
            plan.url_for("http://localhost:8000/v1/chat/completions?x=1", 13),
            "http://c2.localhost:8000/v1/chat/completions?x=1"
        );
        let huge = FanOut::Auto.plan("http://localhost:8000", Some(10_000)).unwrap();
        assert_eq!(huge.connection_cap(), 252);
        assert_eq!(
            huge.url_for("http://localhost:8000", 7),
            "http://c1.localhost:8000"
        );
    }

    #[test]
    fn the_warning_names_the_remaining_cap_or_the_ways_round_it() {
        let local = "http://127.0.0.1:8787";
        assert_eq!(
            connection_warning(Some(local), Some(64), FanOut::Auto),
            None,
            "fan-out covers 64"
        );
        let capped = connection_warning(Some(local), Some(1000), FanOut::Auto).unwrap();
        assert!(
            capped.contains("at most 256 sockets") && capped.contains("beyond 252"),
            "{capped}"
        );
        let off = connection_warning(Some(local), Some(10), FanOut::Off).unwrap();
        assert!(
            off.contains("opens at most 6 connections") && off.contains("fan-out to auto"),
            "{off}"
        );
        let remote = connection_warning(Some("http://10.1.2.3:8000"), Some(10), FanOut::Auto).unwrap();
        for way in ["--shards N", "--engine native", "ssh -L", "*.localhost"] {
            assert!(remote.contains(way), "{way}: {remote}");
        }
        assert!(
            connection_warning(Some("https://api.example.com"), Some(10), FanOut::Auto)
                .unwrap()
                .contains("HTTP/2")
        );
        assert_eq!(connection_warning(Some(local), Some(6), FanOut::Off), None);
        assert_eq!(connection_warning(None, Some(60), FanOut::Off), None);
    }

    #[test]
    fn the_setting_reads_auto_and_off() {
        assert_eq!("auto".parse::<FanOut>(), Ok(FanOut::Auto));
        assert_eq!("".parse::<FanOut>(), Ok(FanOut::Auto));
        assert_eq!("OFF".parse::<FanOut>(), Ok(FanOut::Off));
        assert!("sometimes".parse::<FanOut>().is_err());
    }
}
