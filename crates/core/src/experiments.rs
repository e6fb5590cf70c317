//! Multi-run and grid experiments built from plain run plans: LLMeter's `LoadTest` (one run per concurrency level)
//! and `LatencyHeatmap` (every input-length × output-length combination), plus the deterministic filler prompts the
//! heatmap sends.
//!
//! Both produce ordinary [`RunPlan`]s; nothing here runs anything. Fixes over LLMeter: every load-test level is
//! its own named run (LLMeter writes all levels into one folder), and the heatmap covers every cell exactly
//! `requests_per_combination` times (LLMeter's identical per-client shuffles leave most cells empty).

use std::time::Duration;

use thiserror::Error;

use crate::plan::{Arrival, PlanError, RunPlan, RunPlanSpec, StopCondition};

/// Why an experiment could not be planned.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExperimentError {
    #[error("the load test has no concurrency levels: add at least one client count")]
    NoConcurrencyLevels,
    #[error("the heatmap needs at least one input length and one output length: add them")]
    EmptyGrid,
    #[error("requests per combination must be at least 1: raise it")]
    ZeroRequestsPerCombination,
    #[error("input lengths must be at least 1 word: remove the 0")]
    ZeroInputLength,
    #[error("the run for {clients} clients is invalid: {source}")]
    Plan {
        clients: u32,
        #[source]
        source: PlanError,
    },
}

/// LLMeter's `LoadTest`: the same workload at rising concurrency, one closed-loop run per level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadTestPlan {
    pub sequence_of_clients: Vec<u32>,
    /// Every client sends at least this many requests (count-bound mode).
    pub min_requests_per_client: u64,
    /// Every run sends at least this many requests in all (count-bound mode).
    pub min_requests_per_run: u64,
    /// Time-bound mode: each run lasts this long, and the two minimums are ignored.
    pub run_duration: Option<Duration>,
}

impl Default for LoadTestPlan {
    /// LLMeter's defaults: at least 1 request per client and 10 per run.
    fn default() -> Self {
        LoadTestPlan {
            sequence_of_clients: vec![1, 2, 4, 8],
            min_requests_per_client: 1,
            min_requests_per_run: 10,
            run_duration: None,
        }
    }
}

/// One run of a load test.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadTestRun {
    /// `format!("{clients:05}-clients")`, LLMeter's run name (e.g. `00010-clients`).
    pub name: String,
    pub clients: u32,
    pub plan: RunPlan,
}

/// LLMeter's per-client request count (`experiments.py:201-204`): enough for `min_per_run` in all, and never
/// fewer than `min_per_client` each.
pub fn requests_per_client(min_per_client: u64, min_per_run: u64, clients: u32) -> u64 {
    let clients = u64::from(clients.max(1));
    if clients.saturating_mul(min_per_client) < min_per_run {
        min_per_run.div_ceil(clients)
    } else {
        min_per_client
    }
}

impl LoadTestPlan {
    /// One run per concurrency level, in order. `template` supplies everything but the arrival and the stop
    /// condition (payload count, timeout, warm-up, low-memory mode).
    pub fn runs(&self, template: &RunPlanSpec) -> Result<Vec<LoadTestRun>, ExperimentError> {
        if self.sequence_of_clients.is_empty() {
            return Err(ExperimentError::NoConcurrencyLevels);
        }
        self.sequence_of_clients
            .iter()
            .map(|&clients| {
                let stop = match self.run_duration {
                    Some(duration) => StopCondition::duration(duration),
                    None => StopCondition::requests_per_client(requests_per_client(
                        self.min_requests_per_client,
                        self.min_requests_per_run,
                        clients,
                    )),
                };
                let spec = RunPlanSpec {
                    arrival: Arrival::ClosedLoop { clients },
                    stop,
                    ..template.clone()
                };
                let plan = spec
                    .validate()
                    .map_err(|source| ExperimentError::Plan { clients, source })?;
                Ok(LoadTestRun {
                    name: format!("{clients:05}-clients"),
                    clients,
                    plan,
                })
            })
            .collect()
    }
}

/// LLMeter's `LatencyHeatmap`: latency over a grid of prompt lengths and output budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHeatmapPlan {
    /// Prompt lengths, in words of filler text.
    pub input_lengths: Vec<u32>,
    /// `max_tokens` budgets.
    pub output_lengths: Vec<u32>,
    pub requests_per_combination: u32,
    pub clients: u32,
}

impl Default for LatencyHeatmapPlan {
    /// LLMeter's defaults.
    fn default() -> Self {
        LatencyHeatmapPlan {
            input_lengths: vec![10, 50, 200, 500],
            output_lengths: vec![128, 256, 512, 1024],
            requests_per_combination: 1,
            clients: 4,
        }
    }
}

/// One cell of the heatmap grid: the payload to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeatmapCell {
    pub input_words: u32,
    pub max_output_tokens: u32,
}

impl HeatmapCell {
    /// The cell's prompt: [`filler_prompt`] of `input_words` words.
    pub fn prompt(&self) -> String {
        filler_prompt(self.input_words as usize)
    }
}

/// A planned heatmap: payload `i` of the plan is `cells[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHeatmap {
    pub cells: Vec<HeatmapCell>,
    pub plan: RunPlan,
}

impl LatencyHeatmapPlan {
    /// The grid (input-major) and one closed-loop run that sends every cell exactly `requests_per_combination`
    /// times: the total is split between clients whose payload blocks tile the grid (see `core::scheduler`).
    /// `template` supplies timeout, warm-up and low-memory mode.
    pub fn plan(&self, template: &RunPlanSpec) -> Result<LatencyHeatmap, ExperimentError> {
        if self.input_lengths.is_empty() || self.output_lengths.is_empty() {
            return Err(ExperimentError::EmptyGrid);
        }
        if self.requests_per_combination == 0 {
            return Err(ExperimentError::ZeroRequestsPerCombination);
        }
        if self.input_lengths.contains(&0) {
            return Err(ExperimentError::ZeroInputLength);
        }
        let cells: Vec<HeatmapCell> = self
            .input_lengths
            .iter()
            .flat_map(|&input_words| {
                self.output_lengths
                    .iter()
                    .map(move |&max_output_tokens| HeatmapCell {
                        input_words,
                        max_output_tokens,
                    })
            })
            .collect();
        let total = cells.len() as u64 * u64::from(self.requests_per_combination);
        let spec = RunPlanSpec {
            arrival: Arrival::ClosedLoop {
                clients: self.clients,
            },
            stop: StopCondition::total_requests(total),
            n_payloads: cells.len(),
            ..template.clone()
        };
        let plan = spec.validate().map_err(|source| ExperimentError::Plan {
            clients: self.clients,
            source,
        })?;
        Ok(LatencyHeatmap { cells, plan })
    }
}

/// Words cycled by [`filler_prompt`]: common, single-token-ish English words.
const FILLER_WORDS: [&str; 16] = [
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "wise", "owls",
    "watch", "from", "above",
];

/// A deterministic prompt of exactly `n_words` whitespace-separated words (LLMeter's tokenizer fallback counts
/// words, so the input token estimate equals `n_words`).
pub fn filler_prompt(n_words: usize) -> String {
    let mut text = String::with_capacity(n_words * 6);
    for (i, word) in FILLER_WORDS.iter().cycle().take(n_words).enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(word);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_rule_matches_llmeter_pins() {
        // (min_requests_per_client, min_requests_per_run, clients) → per client; llmeter-reference.md §6.1.
        assert_eq!(requests_per_client(10, 50, 4), 13);
        assert_eq!(requests_per_client(10, 50, 6), 10);
        assert_eq!(requests_per_client(5, 100, 10), 10);
        assert_eq!(requests_per_client(20, 50, 2), 25);
        assert_eq!(requests_per_client(1, 50, 1), 50);
    }

    #[test]
    fn load_test_names_and_stops_each_level() {
        let lt = LoadTestPlan {
            sequence_of_clients: vec![1, 10, 250],
            ..Default::default()
        };
        let runs = lt.runs(&RunPlanSpec::default()).unwrap();
        let names: Vec<_> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["00001-clients", "00010-clients", "00250-clients"]);
        let per_client: Vec<_> = runs.iter().map(|r| r.plan.stop().requests_per_client).collect();
        assert_eq!(per_client, [Some(10), Some(1), Some(1)]);

        let timed = LoadTestPlan {
            run_duration: Some(Duration::from_secs(5)),
            ..lt
        };
        let runs = timed.runs(&RunPlanSpec::default()).unwrap();
        assert!(runs
            .iter()
            .all(|r| r.plan.stop() == StopCondition::duration(Duration::from_secs(5))));
    }

    #[test]
    fn load_test_errors_name_the_level() {
        assert_eq!(
            LoadTestPlan {
                sequence_of_clients: vec![],
                ..Default::default()
            }
            .runs(&RunPlanSpec::default()),
            Err(ExperimentError::NoConcurrencyLevels)
        );
        let err = LoadTestPlan {
            sequence_of_clients: vec![2, 0],
            ..Default::default()
        }
        .runs(&RunPlanSpec::default())
        .unwrap_err();
        assert_eq!(
            err,
            ExperimentError::Plan {
                clients: 0,
                source: PlanError::NoClients
            }
        );
    }

    #[test]
    fn heatmap_grid_is_input_major_with_one_payload_per_cell() {
        let hm = LatencyHeatmapPlan::default()
            .plan(&RunPlanSpec::default())
            .unwrap();
        assert_eq!(hm.cells.len(), 16);
        assert_eq!(
            hm.cells[1],
            HeatmapCell {
                input_words: 10,
                max_output_tokens: 256
            }
        );
        assert_eq!(
            hm.cells[4],
            HeatmapCell {
                input_words: 50,
                max_output_tokens: 128
            }
        );
        assert_eq!(hm.plan.n_payloads(), 16);
        assert_eq!(hm.plan.max_requests(), Some(16));
        assert_eq!(
            LatencyHeatmapPlan {
                output_lengths: vec![],
                ..Default::default()
            }
            .plan(&RunPlanSpec::default()),
            Err(ExperimentError::EmptyGrid)
        );
    }

    #[test]
    fn filler_prompt_has_exact_word_count() {
        assert_eq!(filler_prompt(0), "");
        assert_eq!(filler_prompt(3), "the quick brown");
        for n in [1, 16, 17, 500] {
            assert_eq!(filler_prompt(n).split_whitespace().count(), n);
        }
    }
}
