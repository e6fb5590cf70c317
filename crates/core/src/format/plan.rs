//! The resolved run plan as JSON, stored as `tokenmeter_plan` in `run_config.json` so every result carries the
//! complete configuration that produced it (durations in seconds).

use std::time::Duration;

use serde_json::{json, Value};

use crate::plan::{Arrival, RunPlan};

/// The plan as a JSON object.
pub fn plan_json(plan: &RunPlan) -> Value {
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let arrival = match plan.arrival() {
        Arrival::ClosedLoop { clients } => json!({ "mode": "closed_loop", "clients": clients }),
        Arrival::ConstantRate {
            per_second,
            max_concurrency,
        } => {
            json!({ "mode": "constant_rate", "per_second": per_second, "max_concurrency": max_concurrency })
        }
        Arrival::Poisson {
            per_second,
            max_concurrency,
        } => {
            json!({ "mode": "poisson", "per_second": per_second, "max_concurrency": max_concurrency })
        }
        Arrival::Trace { max_concurrency } => {
            let schedule = plan.schedule();
            json!({
                "mode": "trace",
                "max_concurrency": max_concurrency,
                "requests": schedule.len(),
                "span": schedule.span().as_secs_f64(),
            })
        }
    };
    let stop = plan.stop();
    json!({
        "arrival": arrival,
        "stop": {
            "requests_per_client": stop.requests_per_client,
            "total_requests": stop.total_requests,
            "duration": secs(stop.duration),
        },
        "ramp_up": secs(plan.ramp_up()),
        "warmup": secs(plan.warmup()),
        "request_timeout": secs(plan.request_timeout()),
        "cancel_in_flight_at_deadline": plan.cancel_in_flight_at_deadline(),
        "low_memory": plan.low_memory(),
        "n_payloads": plan.n_payloads(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RunPlanSpec, StopCondition};

    #[test]
    fn a_time_bound_poisson_plan() {
        let plan = RunPlanSpec {
            arrival: Arrival::Poisson {
                per_second: 2.5,
                max_concurrency: Some(8),
            },
            stop: StopCondition::duration(Duration::from_millis(1500)),
            ..RunPlanSpec::default()
        }
        .validate()
        .unwrap();
        let v = plan_json(&plan);
        assert_eq!(
            v["arrival"],
            json!({"mode": "poisson", "per_second": 2.5, "max_concurrency": 8})
        );
        assert_eq!(v["stop"]["duration"], json!(1.5));
        assert_eq!(v["stop"]["requests_per_client"], Value::Null);
        assert_eq!(v["request_timeout"], json!(60.0));
    }
}
