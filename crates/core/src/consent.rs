//! Consent before load: a link (`?autorun=1`) or a configuration may prefill the form, but a run that sends load
//! somewhere else than this page's own origin or this machine starts only after the user said yes to a question
//! naming the target and the load. The `tokenmeter` command's runs need no question: its hook can only be set over
//! the DevTools protocol, which no link reaches.

use crate::address_space::{address_space, origin, AddressSpace};
use crate::input::RunInput;
use crate::plan::Arrival;
use crate::target::TransportKind;

/// The question to ask before `input` starts on its own, or `None` when it may start at once: the simulated
/// model, the page's own origin (`page_origin`, `scheme://host:port`), or a server on this machine.
pub fn autorun_question(input: &RunInput, page_origin: &str) -> Option<String> {
    let target = &input.target;
    if target.transport == TransportKind::Simulated {
        return None;
    }
    let host = match target.base_url.as_str() {
        "" => format!(
            "Amazon's {} endpoint in {}",
            target.api,
            target.aws.as_ref().map_or("?", |a| a.region.as_str())
        ),
        url => {
            let origin = origin(url).to_owned();
            if origin.eq_ignore_ascii_case(page_origin) || is_this_machine(&origin) {
                return None;
            }
            origin
        }
    };
    let plan = &input.runs.first()?.plan;
    let mut load = match plan.arrival() {
        Arrival::ClosedLoop { clients } => format!("{clients} concurrent clients"),
        Arrival::ConstantRate {
            per_second,
            max_concurrency,
        }
        | Arrival::Poisson {
            per_second,
            max_concurrency,
        } => {
            format!(
                "{per_second} requests/s (up to {} at once)",
                max_concurrency.map_or("any".into(), |m| m.to_string())
            )
        }
        Arrival::Trace { max_concurrency } => format!(
            "a trace replayed at its own times (up to {} at once)",
            max_concurrency.map_or("any".into(), |m| m.to_string())
        ),
    };
    let stop = plan.stop();
    if let Some(n) = plan.max_requests() {
        load.push_str(&format!(", {n} requests"));
    }
    if let Some(d) = stop.duration {
        load.push_str(&format!(", for up to {} s", d.as_secs_f64()));
    }
    if input.runs.len() > 1 {
        load.push_str(&format!(", in {} runs", input.runs.len()));
    }
    Some(format!(
        "The link you opened asks Tokenmeter to start a load test at once against {host}: {load}. Start it?"
    ))
}

/// A server on this machine (Chromium's loopback address space).
fn is_this_machine(origin: &str) -> bool {
    address_space(origin) == Some(AddressSpace::Loopback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::RawInput;

    fn input(pairs: &[(&str, &str)]) -> RunInput {
        RawInput::from_pairs(pairs.iter().copied()).parse().unwrap()
    }

    #[test]
    fn a_remote_target_needs_consent_naming_host_and_load() {
        let question = autorun_question(
            &input(&[
                ("url", "https://victim.example/v1"),
                ("clients", "10000"),
                ("requests", ""),
                ("duration", "604800"),
            ]),
            "https://tokenmeter.example",
        )
        .unwrap();
        assert!(question.contains("https://victim.example"), "{question}");
        assert!(
            question.contains("10000 concurrent clients") && question.contains("604800 s"),
            "{question}"
        );
        let open = autorun_question(
            &input(&[
                ("url", "https://victim.example/v1"),
                ("mode", "rate"),
                ("rate", "100000"),
                ("requests", "5"),
            ]),
            "https://tokenmeter.example",
        )
        .unwrap();
        assert!(open.contains("100000 requests/s"), "{open}");
    }

    #[test]
    fn the_simulated_model_this_machine_and_the_pages_own_origin_need_none() {
        let page = "https://tokenmeter.example";
        assert_eq!(autorun_question(&input(&[]), page), None);
        for url in [
            "http://127.0.0.1:8787/v1",
            "http://localhost:8000/v1",
            "http://c3.localhost:8000",
            "http://[::1]:8000/v1",
            "https://tokenmeter.example/proxy/v1",
        ] {
            assert_eq!(autorun_question(&input(&[("url", url)]), page), None, "{url}");
        }
        assert!(autorun_question(&input(&[("url", "http://127.0.0.1.evil.example/v1")]), page).is_some());
    }
}
