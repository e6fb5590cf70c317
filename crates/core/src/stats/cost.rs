//! Cost estimates, following LLMeter's `CostModel` callback with its built-in dimensions `InputTokens`,
//! `OutputTokens` (per request) and `EndpointTime` (per run): the billable quantity is rounded up to the
//! granularity, `ceil(x / g) · g`, then priced.
//!
//! Where LLMeter would fail, this module skips instead: LLMeter's sum of request costs raises a `TypeError` when
//! one request's token count is unknown, and `after_run` refuses a `None` total. Here a request whose tokens are
//! unknown adds nothing to that dimension's total and has no per-request total cost.
//!
//! Run totals (`cost_InputTokens`, …) cover every non-warm-up request, failed ones included, since a provider
//! bills the tokens it reports; the per-request distributions cover successful requests only, like every other
//! distribution in these statistics.

use crate::record::RequestRecord;
use crate::stats::distribution::Distribution;
use crate::stats::exact_sum::ExactSum;
use crate::stats::StatsConfigError;

/// LLMeter's dimension names, used in the `cost_<name>` keys.
pub const INPUT_TOKENS: &str = "InputTokens";
pub const OUTPUT_TOKENS: &str = "OutputTokens";
pub const ENDPOINT_TIME: &str = "EndpointTime";

/// Prices for the three dimensions; an unpriced (`None`) dimension is not part of the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// Price per million input tokens (LLMeter `InputTokens.price_per_million`).
    pub input_price_per_million: Option<f64>,
    /// Price per million output tokens, reasoning included (LLMeter `OutputTokens.price_per_million`).
    pub output_price_per_million: Option<f64>,
    /// Price per hour of test time (LLMeter `EndpointTime.price_per_hour`).
    pub endpoint_price_per_hour: Option<f64>,
    /// Tokens are billed in multiples of this (LLMeter `granularity`, default 1).
    pub token_granularity: u64,
    /// Endpoint time is billed in multiples of this many seconds (LLMeter `granularity_secs`, default 1).
    pub time_granularity_secs: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            input_price_per_million: None,
            output_price_per_million: None,
            endpoint_price_per_hour: None,
            token_granularity: 1,
            time_granularity_secs: 1.0,
        }
    }
}

impl CostModel {
    /// Prices must be finite and non-negative; granularities positive.
    pub fn validate(&self) -> Result<(), StatsConfigError> {
        let prices = [
            ("input_price_per_million", self.input_price_per_million),
            ("output_price_per_million", self.output_price_per_million),
            ("endpoint_price_per_hour", self.endpoint_price_per_hour),
        ];
        for (field, price) in prices {
            if let Some(value) = price.filter(|p| !(p.is_finite() && *p >= 0.0)) {
                return Err(StatsConfigError::CostField { field, value });
            }
        }
        if self.token_granularity == 0 {
            return Err(StatsConfigError::CostField {
                field: "token_granularity",
                value: 0.0,
            });
        }
        let g = self.time_granularity_secs;
        if !(g.is_finite() && g > 0.0) {
            return Err(StatsConfigError::CostField {
                field: "time_granularity_secs",
                value: g,
            });
        }
        Ok(())
    }

    /// Cost of `tokens` input tokens; `None` when unpriced or the count is unknown.
    pub fn input_cost(&self, tokens: Option<u64>) -> Option<f64> {
        Some(token_cost(
            self.input_price_per_million?,
            tokens?,
            self.token_granularity,
        ))
    }

    /// Cost of `tokens` output tokens; `None` when unpriced or the count is unknown.
    pub fn output_cost(&self, tokens: Option<u64>) -> Option<f64> {
        Some(token_cost(
            self.output_price_per_million?,
            tokens?,
            self.token_granularity,
        ))
    }

    /// Endpoint cost of a run lasting `total_test_time` seconds; `None` when unpriced or the time is unknown.
    pub fn endpoint_cost(&self, total_test_time: Option<f64>) -> Option<f64> {
        let (price, secs) = (self.endpoint_price_per_hour?, total_test_time?);
        let g = self.time_granularity_secs;
        Some((secs / g).ceil() * g * price / 3600.0)
    }

    fn prices_requests(&self) -> bool {
        self.input_price_per_million.is_some() || self.output_price_per_million.is_some()
    }
}

/// `ceil(tokens / g) · g · price / 1e6`, in LLMeter's operation order.
fn token_cost(price_per_million: f64, tokens: u64, granularity: u64) -> f64 {
    let billable = match granularity {
        1 => tokens, // skips a 64-bit division per request in the common case
        g => tokens.div_ceil(g).saturating_mul(g),
    };
    billable as f64 * price_per_million / 1_000_000.0
}

/// The cost of one request, by dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestCost {
    /// Input-token cost; `None` when input tokens are not priced.
    pub input: Option<f64>,
    /// Output-token cost; `None` when output tokens are not priced.
    pub output: Option<f64>,
    /// Sum of the priced dimensions.
    pub total: f64,
}

/// The cost of `record`, or `None` when the model prices no request dimension or a priced dimension's token
/// count is unknown.
pub fn request_cost(model: &CostModel, record: &RequestRecord) -> Option<RequestCost> {
    combine(
        model,
        model.input_cost(record.tokens.input),
        model.output_cost(record.tokens.output),
    )
}

fn combine(model: &CostModel, input: Option<f64>, output: Option<f64>) -> Option<RequestCost> {
    let known = |price: Option<f64>, cost: Option<f64>| price.is_none() || cost.is_some();
    let complete = model.prices_requests()
        && known(model.input_price_per_million, input)
        && known(model.output_price_per_million, output);
    // Python's `sum(costs.values())` starts from 0: `(0 + input) + output`.
    complete.then(|| RequestCost {
        input,
        output,
        total: input.unwrap_or(0.0) + output.unwrap_or(0.0),
    })
}

/// The summed costs of one request dimension over requests outside the per-request distributions.
#[derive(Debug, Clone, Default)]
pub(crate) struct DimTotal {
    sum: ExactSum,
    known: u64,
}

impl DimTotal {
    fn add(&mut self, cost: f64) {
        self.sum.add(cost);
        self.known += 1;
    }

    fn merge(&mut self, other: &DimTotal) {
        self.sum.add_sum(&other.sum);
        self.known += other.known;
    }

    /// The run total of a dimension: `self` (failed requests) plus the successful requests' distribution, summed
    /// exactly; `None` when no request had a known cost (LLMeter then has no key). Call after settling.
    fn with(&self, successful: &Distribution) -> Option<f64> {
        let mut sum = self.sum.clone();
        let mut known = self.known;
        if let Some(sample) = successful.sample() {
            sum.add_sum(sample.exact_sum());
            known += sample.count() as u64;
        }
        (known > 0).then(|| sum.value())
    }
}

/// Running cost figures of a set of non-warm-up requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct CostTotals {
    /// Input-token cost of each successful request.
    pub input_per_request: Distribution,
    /// Output-token cost of each successful request.
    pub output_per_request: Distribution,
    /// Total cost of each successful request.
    pub per_request: Distribution,
    /// Failed requests' costs: in the run totals, not in the distributions. Successful requests' costs are summed
    /// by their distributions (exactly, when settling), so observing a successful request adds no sum here.
    failed_input: DimTotal,
    failed_output: DimTotal,
}

impl CostTotals {
    pub fn observe(&mut self, model: &CostModel, record: &RequestRecord) {
        let input = model.input_cost(record.tokens.input);
        let output = model.output_cost(record.tokens.output);
        if record.is_success() {
            input.into_iter().for_each(|c| self.input_per_request.push(c));
            output.into_iter().for_each(|c| self.output_per_request.push(c));
            if let Some(cost) = combine(model, input, output) {
                self.per_request.push(cost.total);
            }
        } else {
            input.into_iter().for_each(|c| self.failed_input.add(c));
            output.into_iter().for_each(|c| self.failed_output.add(c));
        }
    }

    pub fn merge(&mut self, other: &CostTotals) {
        self.input_per_request.merge(&other.input_per_request);
        self.output_per_request.merge(&other.output_per_request);
        self.per_request.merge(&other.per_request);
        self.failed_input.merge(&other.failed_input);
        self.failed_output.merge(&other.failed_output);
    }

    pub fn settle(&mut self) {
        self.input_per_request.settle();
        self.output_per_request.settle();
        self.per_request.settle();
    }

    /// Run total of input-token costs, failed requests included. Call after settling.
    pub fn input_total(&self) -> Option<f64> {
        self.failed_input.with(&self.input_per_request)
    }

    /// Run total of output-token costs, failed requests included. Call after settling.
    pub fn output_total(&self) -> Option<f64> {
        self.failed_output.with(&self.output_per_request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TokenCounts;

    fn with_tokens(input: Option<u64>, output: Option<u64>) -> RequestRecord {
        RequestRecord {
            tokens: TokenCounts {
                input,
                output,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn dimensions_round_up_to_their_granularity() {
        let model = CostModel {
            input_price_per_million: Some(3.0),
            output_price_per_million: Some(15.0),
            endpoint_price_per_hour: Some(7.2),
            token_granularity: 1000,
            time_granularity_secs: 60.0,
        };
        // Python: ceil(1001/1000)*1000 * 3.0 / 1000000 == 0.006 ; ceil(10/1000)*1000 * 15.0 / 1000000 == 0.015
        assert_eq!(model.input_cost(Some(1001)), Some(0.006));
        assert_eq!(model.output_cost(Some(10)), Some(0.015));
        // Python: ceil(61.5/60)*60 * 7.2 / 3600 == 0.24
        assert_eq!(model.endpoint_cost(Some(61.5)), Some(0.24));
        assert_eq!(model.endpoint_cost(None), None);
        let cost = request_cost(&model, &with_tokens(Some(1001), Some(10))).unwrap();
        // Python: 0 + 0.006 + 0.015 == 0.020999999999999998
        assert_eq!(
            cost,
            RequestCost {
                input: Some(0.006),
                output: Some(0.015),
                total: 0.020999999999999998
            }
        );
    }

    #[test]
    fn unknown_or_unpriced_dimensions() {
        let model = CostModel {
            output_price_per_million: Some(2.0),
            ..Default::default()
        };
        // Python: 500 * 2.0 / 1000000 == 0.001
        assert_eq!(
            request_cost(&model, &with_tokens(None, Some(500))),
            Some(RequestCost {
                input: None,
                output: Some(0.001),
                total: 0.001
            })
        );
        assert_eq!(request_cost(&model, &with_tokens(Some(5), None)), None);
        assert_eq!(
            request_cost(&CostModel::default(), &with_tokens(Some(5), Some(5))),
            None
        );
    }

    #[test]
    fn models_are_validated() {
        assert!(CostModel::default().validate().is_ok());
        let bad = CostModel {
            token_granularity: 0,
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(StatsConfigError::CostField {
                field: "token_granularity",
                ..
            })
        ));
        let bad = CostModel {
            input_price_per_million: Some(-1.0),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = CostModel {
            time_granularity_secs: 0.0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
