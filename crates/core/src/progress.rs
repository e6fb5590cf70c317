//! How far a run has got: the share done and an estimate of the time left, from what bounds the run — its
//! request count (requests finished of all), its duration (time elapsed of all), or whichever ends it first.

use serde::{Deserialize, Serialize};

use crate::plan::RunPlan;

/// A run's progress as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProgressView {
    /// Share done, in `[0, 1]`.
    pub fraction: f64,
    pub elapsed_secs: f64,
    /// Seconds left, once there is enough to estimate from.
    pub remaining_secs: Option<f64>,
}

impl ProgressView {
    /// Progress of `plan` after `elapsed_secs` with `finished` requests done (cancelled ones included).
    pub fn of(plan: &RunPlan, finished: u64, elapsed_secs: f64) -> ProgressView {
        let by_count = plan.max_requests().map(|total| {
            let fraction = (finished as f64 / total.max(1) as f64).min(1.0);
            // At the pace so far; unknown until something has finished.
            let left = (finished > 0)
                .then(|| elapsed_secs * (total.saturating_sub(finished)) as f64 / finished as f64);
            (fraction, left)
        });
        let by_time = plan.stop().duration.map(|d| {
            let total = d.as_secs_f64();
            (
                (elapsed_secs / total).min(1.0),
                Some((total - elapsed_secs).max(0.0)),
            )
        });
        // Whichever limit is nearer ends the run.
        let (fraction, remaining_secs) = match (by_count, by_time) {
            (Some(c), Some(t)) => {
                if c.0 >= t.0 {
                    c
                } else {
                    t
                }
            }
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => (0.0, None),
        };
        ProgressView {
            fraction,
            elapsed_secs,
            remaining_secs,
        }
    }

    /// `45% · 12.3 s elapsed · about 15 s left`.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{:.0}% · {:.1} s elapsed",
            self.fraction * 100.0,
            self.elapsed_secs
        );
        if let Some(left) = self.remaining_secs.filter(|_| self.fraction < 1.0) {
            text.push_str(&format!(" · about {left:.0} s left"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Arrival, RunPlanSpec, StopCondition};
    use std::time::Duration;

    fn plan(stop: StopCondition) -> RunPlan {
        RunPlanSpec {
            arrival: Arrival::ClosedLoop { clients: 2 },
            stop,
            ..RunPlanSpec::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn count_bound_runs_count_requests_and_time_bound_runs_count_time() {
        let counted = ProgressView::of(&plan(StopCondition::requests_per_client(10)), 5, 2.0);
        assert_eq!((counted.fraction, counted.remaining_secs), (0.25, Some(6.0)));
        assert_eq!(counted.text(), "25% · 2.0 s elapsed · about 6 s left");
        assert_eq!(
            ProgressView::of(&plan(StopCondition::requests_per_client(10)), 0, 1.0).remaining_secs,
            None
        );
        let timed = ProgressView::of(&plan(StopCondition::duration(Duration::from_secs(60))), 99, 15.0);
        assert_eq!((timed.fraction, timed.remaining_secs), (0.25, Some(45.0)));
        let both = StopCondition {
            requests_per_client: Some(10),
            total_requests: None,
            duration: Some(Duration::from_secs(100)),
        };
        // 15 of 20 requests after 10 s is further along than 10 s of 100.
        assert_eq!(ProgressView::of(&plan(both), 15, 10.0).fraction, 0.75);
        assert_eq!(
            ProgressView::of(&plan(StopCondition::requests_per_client(1)), 2, 3.0).text(),
            "100% · 3.0 s elapsed"
        );
    }
}
