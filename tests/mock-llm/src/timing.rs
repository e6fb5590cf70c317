//! Per-request knobs, the same for every API: where they are read from and which source wins.
//!
//! Precedence is header > query parameter > server default ([`Config`], from `MOCK_*` env) > built-in.
//! Headers suit `fetch` calls, query parameters let a bare URL configure a run. A malformed value is an
//! error (HTTP 400), not silently ignored, so a typo in a test shows up at once.

use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::Config;

/// Delay before the first token, in ms.
pub const TTFT_HEADER: &str = "x-mock-ttft-ms";
/// Delay between consecutive tokens, in ms.
pub const ITL_HEADER: &str = "x-mock-itl-ms";
/// Number of output tokens.
pub const TOKENS_HEADER: &str = "x-mock-tokens";
/// Adds a random delay of up to this many ms (in µs steps) to the time to first token, as a real server's varies.
pub const JITTER_HEADER: &str = "x-mock-jitter-ms";

/// Output tokens when nothing else says how many.
pub const DEFAULT_TOKENS: u32 = 20;
/// Refuse absurd counts: the non-streaming body is built in memory.
pub const MAX_TOKENS: u32 = 1_000_000;

/// A knob value that could not be parsed; becomes a 400 in the route's API error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnobError(pub String);

impl std::fmt::Display for KnobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The per-request sources of knobs: request headers and the URL query string.
pub struct Knobs<'a> {
    headers: &'a HeaderMap,
    query: Vec<(&'a str, &'a str)>,
}

impl<'a> Knobs<'a> {
    pub fn new(headers: &'a HeaderMap, query: Option<&'a str>) -> Self {
        let query = query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .collect();
        Knobs { headers, query }
    }

    /// The header value if present, else the query parameter; `None` if neither is given.
    pub fn get<T: FromStr>(&self, header: &str, param: &str) -> Result<Option<T>, KnobError> {
        if let Some(value) = self.headers.get(header) {
            let text = value.to_str().unwrap_or("");
            return parse(text, &format!("header {header}")).map(Some);
        }
        match self.query.iter().find(|(key, _)| *key == param) {
            Some((_, text)) => parse(text, &format!("query parameter {param}")).map(Some),
            None => Ok(None),
        }
    }
}

fn parse<T: FromStr>(text: &str, what: &str) -> Result<T, KnobError> {
    text.trim()
        .parse()
        .map_err(|_| KnobError(format!("mock-llm: invalid {what}: {text:?}")))
}

/// Effective timing of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Delay before the first token.
    pub ttft: Duration,
    /// Delay between tokens.
    pub itl: Duration,
    /// Output token count.
    pub tokens: u32,
    /// The request's output limit lowered the count (the answer ends with `Finish::Length`).
    pub capped: bool,
}

impl Timing {
    /// Resolves timing for a request whose body asked for at most `max_tokens` (the API's own name for the
    /// output limit: `max_tokens`, `max_completion_tokens`, `max_output_tokens`).
    ///
    /// An explicit per-request token count (header or query) wins over `max_tokens`, so a test can ask
    /// for more; the server default and the built-in 20 are capped by it, as a real model would be.
    pub fn resolve(knobs: &Knobs<'_>, config: &Config, max_tokens: Option<u64>) -> Result<Timing, KnobError> {
        let ttft_ms = knobs.get(TTFT_HEADER, "ttft_ms")?.unwrap_or(config.ttft_ms);
        let jitter_ms: u64 = knobs.get(JITTER_HEADER, "jitter_ms")?.unwrap_or(0);
        let jitter = match jitter_ms {
            0 => Duration::ZERO,
            ms => Duration::from_micros(crate::faults::next_draw() % (ms * 1000)),
        };
        let itl_ms = knobs.get(ITL_HEADER, "itl_ms")?.unwrap_or(config.itl_ms);
        let (tokens, capped) = match knobs.get::<u32>(TOKENS_HEADER, "tokens")? {
            Some(explicit) => (explicit, false),
            None => {
                let default = config.tokens.unwrap_or(DEFAULT_TOKENS);
                let limit = max_tokens.map_or(u32::MAX, |max| u32::try_from(max).unwrap_or(u32::MAX));
                (default.min(limit), limit < default)
            }
        };
        if tokens > MAX_TOKENS {
            return Err(KnobError(format!(
                "mock-llm: {tokens} tokens is more than the limit of {MAX_TOKENS}"
            )));
        }
        Ok(Timing {
            ttft: Duration::from_millis(ttft_ms) + jitter,
            itl: Duration::from_millis(itl_ms),
            tokens,
            capped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn header_beats_query_beats_config() {
        let config = Config {
            ttft_ms: 7,
            itl_ms: 8,
            tokens: Some(9),
            capacity: None,
        };
        let h = headers(&[(TTFT_HEADER, "1")]);
        let t = Timing::resolve(&Knobs::new(&h, Some("ttft_ms=2&itl_ms=3")), &config, None).unwrap();
        assert_eq!(
            t,
            Timing {
                ttft: Duration::from_millis(1),
                itl: Duration::from_millis(3),
                tokens: 9,
                capped: false,
            }
        );
    }

    #[test]
    fn max_tokens_caps_defaults_but_not_explicit_counts() {
        let none = HeaderMap::new();
        let resolve = |q, config: &Config, max| {
            Timing::resolve(&Knobs::new(&none, q), config, max)
                .unwrap()
                .tokens
        };
        assert_eq!(resolve(None, &Config::default(), None), DEFAULT_TOKENS);
        assert_eq!(resolve(None, &Config::default(), Some(5)), 5);
        assert_eq!(resolve(None, &Config::default(), Some(500)), DEFAULT_TOKENS);
        assert_eq!(
            resolve(
                None,
                &Config {
                    tokens: Some(40),
                    ..Config::default()
                },
                Some(30)
            ),
            30
        );
        assert_eq!(resolve(Some("tokens=50"), &Config::default(), Some(5)), 50);
    }

    #[test]
    fn only_a_limit_that_lowers_the_count_caps_it() {
        let none = HeaderMap::new();
        let capped = |q, max| {
            Timing::resolve(&Knobs::new(&none, q), &Config::default(), max)
                .unwrap()
                .capped
        };
        assert!(capped(None, Some(5)));
        assert!(!capped(None, Some(20)), "the answer fits the limit exactly");
        assert!(!capped(None, None));
        assert!(
            !capped(Some("tokens=50"), Some(5)),
            "an explicit count is never capped"
        );
    }

    #[test]
    fn malformed_values_are_errors() {
        let h = headers(&[(ITL_HEADER, "fast")]);
        let err = Timing::resolve(&Knobs::new(&h, None), &Config::default(), None).unwrap_err();
        assert!(err.0.contains(ITL_HEADER), "{err}");
        let none = HeaderMap::new();
        assert!(Timing::resolve(&Knobs::new(&none, Some("ttft_ms=-1")), &Config::default(), None).is_err());
    }
}
