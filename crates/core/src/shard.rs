//! Shards: one run split over N engines (browser processes, machines, pods) that together send exactly the load of
//! the whole run. Shard `i/N` gets an even share of the clients (closed loop), of the rate and the in-flight cap
//! (open loop), and of a total request count; whole-number remainders go to the first shards, so the shares add
//! up to the whole exactly. Per-client counts and durations are the same in every shard.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::plan::{Arrival, PlanError, RunPlan, RunPlanSpec};

/// Shard `index` of `count` (0-based: `0/4` … `3/4`, as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The most shards one run may be split into.
pub const MAX_SHARDS: u32 = 1024;

/// Why a shard cannot be taken from a plan, or read from text.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ShardError {
    #[error("write the shard as i/N with 0 ≤ i < N ≤ {MAX_SHARDS}, e.g. 0/4 (got {0:?})")]
    Syntax(String),
    #[error("{clients} clients cannot be split over {count} shards: each shard needs at least one client")]
    TooFewClients { clients: u32, count: u32 },
    #[error("{requests} requests cannot be split over {count} shards: each shard needs at least one")]
    TooFewRequests { requests: u64, count: u32 },
    #[error("the shard's plan is not valid: {0}")]
    Plan(#[from] PlanError),
}

impl Shard {
    /// The whole run: one shard of one.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(ShardError::Syntax(format!("{index}/{count}")));
        }
        Ok(Shard { index, count })
    }

    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// This shard's share of a whole number `total`: `⌊total/N⌋`, plus one for the first `total mod N` shards.
    pub fn share(self, total: u64) -> u64 {
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        total / count + u64::from(index < total % count)
    }

    /// This shard's share of a rate: an exact N-th (rates need not be whole).
    pub fn share_of_rate(self, per_second: f64) -> f64 {
        per_second / f64::from(self.count)
    }

    /// This shard's part of `plan`: the same run with its share of the load.
    pub fn split(self, plan: &RunPlan) -> Result<RunPlan, ShardError> {
        if self.is_whole() {
            return Ok(plan.clone());
        }
        let spec = plan.spec().clone();
        let clients = |total: u32| -> Result<u32, ShardError> {
            if total < self.count {
                return Err(ShardError::TooFewClients {
                    clients: total,
                    count: self.count,
                });
            }
            Ok(self.share(u64::from(total)) as u32)
        };
        let arrival = match spec.arrival {
            Arrival::ClosedLoop { clients: total } => Arrival::ClosedLoop {
                clients: clients(total)?,
            },
            Arrival::ConstantRate {
                per_second,
                max_concurrency,
            } => Arrival::ConstantRate {
                per_second: self.share_of_rate(per_second),
                max_concurrency: max_concurrency.map(clients).transpose()?,
            },
            Arrival::Poisson {
                per_second,
                max_concurrency,
            } => Arrival::Poisson {
                per_second: self.share_of_rate(per_second),
                max_concurrency: max_concurrency.map(clients).transpose()?,
            },
            // Each shard replays every N-th row of the trace (`Schedule::every`, when the trace is attached).
            Arrival::Trace { max_concurrency } => Arrival::Trace {
                max_concurrency: max_concurrency.map(clients).transpose()?,
            },
        };
        let mut stop = spec.stop;
        if let Some(total) = stop.total_requests {
            if total < u64::from(self.count) {
                return Err(ShardError::TooFewRequests {
                    requests: total,
                    count: self.count,
                });
            }
            stop.total_requests = Some(self.share(total));
        }
        Ok(RunPlanSpec {
            arrival,
            stop,
            schedule: spec.schedule.every(self.index, self.count),
            ..spec
        }
        .validate()?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let wrong = || ShardError::Syntax(text.to_owned());
        let (index, count) = text.trim().split_once('/').ok_or_else(wrong)?;
        let index = index.trim().parse().map_err(|_| wrong())?;
        let count = count.trim().parse().map_err(|_| wrong())?;
        Shard::new(index, count).map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::StopCondition;

    fn plan(arrival: Arrival, stop: StopCondition) -> RunPlan {
        RunPlanSpec {
            arrival,
            stop,
            ..RunPlanSpec::default()
        }
        .validate()
        .unwrap()
    }

    fn shards(count: u32) -> impl Iterator<Item = Shard> {
        (0..count).map(move |index| Shard::new(index, count).unwrap())
    }

    #[test]
    fn shares_add_up_to_the_whole_with_remainders_first() {
        for total in [0_u64, 1, 5, 64, 65, 67, 1000, 1001] {
            for count in 1..=9 {
                let parts: Vec<u64> = shards(count).map(|s| s.share(total)).collect();
                assert_eq!(parts.iter().sum::<u64>(), total, "{total} over {count}");
                assert!(
                    parts.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1),
                    "{parts:?}"
                );
            }
        }
        let parts: Vec<u64> = shards(4).map(|s| s.share(66)).collect();
        assert_eq!(parts, [17, 17, 16, 16]);
    }

    #[test]
    fn a_closed_loop_splits_its_clients_and_keeps_the_per_client_count() {
        let whole = plan(
            Arrival::ClosedLoop { clients: 66 },
            StopCondition::requests_per_client(5),
        );
        let parts: Vec<RunPlan> = shards(4).map(|s| s.split(&whole).unwrap()).collect();
        let clients: Vec<u32> = parts
            .iter()
            .map(|p| p.arrival().max_in_flight().unwrap())
            .collect();
        assert_eq!(clients, [17, 17, 16, 16]);
        assert!(parts.iter().all(|p| p.stop().requests_per_client == Some(5)));
    }

    #[test]
    fn an_open_loop_splits_its_rate_cap_and_total() {
        let whole = plan(
            Arrival::Poisson {
                per_second: 10.0,
                max_concurrency: Some(7),
            },
            StopCondition {
                total_requests: Some(101),
                duration: Some(Duration::from_secs(30)),
                ..StopCondition::default()
            },
        );
        let parts: Vec<RunPlan> = shards(3).map(|s| s.split(&whole).unwrap()).collect();
        let mut rate = 0.0;
        let mut cap = 0;
        let mut total = 0;
        for part in &parts {
            let Arrival::Poisson {
                per_second,
                max_concurrency,
            } = part.arrival()
            else {
                panic!("the arrival kind is kept")
            };
            rate += per_second;
            cap += max_concurrency.unwrap();
            total += part.stop().total_requests.unwrap();
            assert_eq!(part.stop().duration, Some(Duration::from_secs(30)));
        }
        assert!((rate - 10.0).abs() < 1e-12);
        assert_eq!((cap, total), (7, 101));
    }

    #[test]
    fn too_little_load_for_the_shards_is_a_clear_error() {
        let whole = plan(
            Arrival::ClosedLoop { clients: 3 },
            StopCondition::requests_per_client(1),
        );
        let error = Shard::new(3, 4).unwrap().split(&whole).unwrap_err();
        assert_eq!(error, ShardError::TooFewClients { clients: 3, count: 4 });
        assert!(error.to_string().contains("at least one client"));
    }

    #[test]
    fn shards_read_and_write_as_i_over_n() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard { index: 2, count: 4 }.to_string(), "2/4");
        for bad in ["4/4", "1", "-1/2", "a/b", "0/0", "0/5000"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
