//! What `tokenmeter run` runs: a configuration file read as the page reads it (Save configuration, a run's
//! `run_config.json`, or LLMeter's, mapped key by key), `--set` overrides by query-parameter name, and the
//! credentials from the environment. Every setting is checked here, before anything is sent.

use std::path::{Path, PathBuf};

use serde_json::Value;

use tokenmeter_core::dataset::{Dataset, DatasetRow};
use tokenmeter_core::format::read_run_config;
use tokenmeter_core::input::{Field, RawInput, RunInput};
use tokenmeter_core::plan::Schedule;
use tokenmeter_core::shard::Shard;
use tokenmeter_core::target::{ApiKind, AwsAuthKind};
use tokenmeter_core::trace::Trace;
use tokenmeter_engine::remote::RunRequest;
use tokenmeter_engine::target::{Credentials, Target};

use crate::error::CliError;

/// A configuration, checked, with its payloads and credentials: ready to run as one run or as shards.
pub struct RunSetup {
    /// Every setting as text, overrides applied (no shard: each shard's request sets its own).
    pub raw: RawInput,
    /// The whole run, validated.
    pub input: RunInput,
    pub payloads: Vec<Value>,
    /// Trace replay: when each payload is sent (empty otherwise).
    pub schedule: Schedule,
    /// `tokenizer=FILE.json`: the Hugging Face tokenizer's text, read beside the configuration.
    pub tokenizer_json: Option<String>,
    pub credentials: Credentials,
    /// Keys of an LLMeter configuration that have no Tokenmeter setting.
    pub unmapped: Vec<String>,
    pub seed: u64,
}

impl RunSetup {
    /// Reads `path`, applies `sets` (`NAME=VALUE`), takes credentials from `env`, and checks it all.
    pub fn load(
        path: &Path,
        sets: &[String],
        env: &dyn Fn(&str) -> Option<String>,
        seed: u64,
    ) -> Result<RunSetup, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Config(format!("{}: cannot be read: {e}", path.display())))?;
        let config = read_run_config(&text)
            .map_err(|e| CliError::Config(format!("{}: not a run configuration: {e}", path.display())))?;
        let (mut raw, unmapped) = RawInput::from_run_config(&config);
        for set in sets {
            let (name, value) = set.split_once('=').ok_or_else(|| {
                CliError::Config(format!("--set {set:?}: write NAME=VALUE, e.g. --set clients=64"))
            })?;
            let field = Field::from_name(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                CliError::Config(format!(
                    "--set {name:?}: no such setting; the settings are {}",
                    names.join(", ")
                ))
            })?;
            raw.set(field, value);
        }
        let input = parse(&raw)?;
        if !input.shard.is_whole() {
            return Err(CliError::Config(
                "the configuration names a shard: give --shards N or --shard I/N instead".into(),
            ));
        }
        let credentials = credentials_from(&input, env);
        let dataset = input
            .dataset
            .as_deref()
            .map(|name| read_dataset(path, name, &input, seed))
            .transpose()?;
        let trace = input
            .trace
            .as_deref()
            .map(|name| read_trace(path, name))
            .transpose()?;
        // A trace's rows are its prompts, sent as a dataset in the trace's order.
        let prompts = trace.as_ref().map(|t| t.prompts(seed)).or(dataset);
        let target = Target::for_input(&input, None, prompts.as_deref(), None, &credentials, seed)
            .map_err(|e| CliError::Config(format!("the target cannot be used as set: {e}")))?;
        let tokenizer_json = input
            .tokenizer
            .file
            .as_deref()
            .map(|name| read_beside(path, name, "tokenizer").map(|(_, text)| text))
            .transpose()?;
        Ok(RunSetup {
            tokenizer_json,
            schedule: trace.map(|t| t.schedule(input.trace_speed)).unwrap_or_default(),
            payloads: target.payloads().to_vec(),
            raw,
            input,
            credentials,
            unmapped,
            seed,
        })
    }

    /// The request shard `shard` posts to its engine, starting at `start_at_ms`.
    pub fn request(
        &self,
        shard: Shard,
        start_at_ms: Option<i64>,
        clock_offset_ms: Option<f64>,
    ) -> Result<RunRequest, CliError> {
        let mut raw = self.raw.clone();
        if !shard.is_whole() {
            raw.set(Field::Shard, shard.to_string());
        }
        if let Some(at) = start_at_ms {
            raw.set(Field::StartAt, at.to_string());
        }
        // The shard's share must itself be a valid run (enough clients for every shard).
        parse(&raw)?;
        Ok(RunRequest {
            settings: raw,
            payloads: self.payloads.clone(),
            schedule: self.schedule.clone(),
            tokenizer_json: self.tokenizer_json.clone(),
            credentials: self.credentials.clone(),
            seed: self.seed.wrapping_add(u64::from(shard.index)),
            default_name: self.input.name.clone().unwrap_or_else(|| "tokenmeter-run".into()),
            clock_offset_ms,
            tap_records: true,
            records_leave: false,
            store_cap_bytes: None,
        })
    }
}

fn parse(raw: &RawInput) -> Result<RunInput, CliError> {
    raw.parse().map_err(|e| {
        CliError::Config(format!(
            "setting {} ({}): {}",
            e.field.name(),
            e.field.label(),
            e.message
        ))
    })
}

/// The credentials the target needs, from the environment: `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`,
/// `AWS_BEARER_TOKEN_BEDROCK`, `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, and
/// `TOKENMETER_API_KEY` for anything else (it wins when set).
pub fn credentials_from(input: &RunInput, env: &dyn Fn(&str) -> Option<String>) -> Credentials {
    let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let target = &input.target;
    let provider_key = match (target.api, target.aws.as_ref().map(|a| a.auth)) {
        (ApiKind::OpenAiChat | ApiKind::OpenAiResponses, _) => var("OPENAI_API_KEY"),
        (ApiKind::AnthropicMessages, _) => var("ANTHROPIC_API_KEY"),
        (_, Some(AwsAuthKind::ApiKey)) => var("AWS_BEARER_TOKEN_BEDROCK"),
        _ => None,
    };
    let aws = match target.aws.as_ref().map(|a| a.auth) {
        Some(AwsAuthKind::SigV4) => var("AWS_ACCESS_KEY_ID")
            .zip(var("AWS_SECRET_ACCESS_KEY"))
            .map(|(id, secret)| (id, secret, var("AWS_SESSION_TOKEN"))),
        _ => None,
    };
    Credentials {
        api_key: var("TOKENMETER_API_KEY").or(provider_key),
        aws,
    }
}

/// The `dataset` setting's file (a path, relative to the configuration's folder unless absolute), read and sampled
/// as the run asks; its skipped rows are named.
fn read_dataset(config: &Path, name: &str, input: &RunInput, seed: u64) -> Result<Vec<DatasetRow>, CliError> {
    let (path, text) = read_beside(config, name, "dataset")?;
    let dataset =
        Dataset::parse(&text).map_err(|e| CliError::Config(format!("dataset {}: {e}", path.display())))?;
    for skipped in &dataset.skipped {
        eprintln!("tokenmeter: dataset {}: skipped {skipped}", path.display());
    }
    dataset
        .sample(input.dataset_sample, seed)
        .map_err(|e| CliError::Config(format!("dataset {}: {e}", path.display())))
}

/// The `trace` setting's file (as the dataset's, beside the configuration), read; its skipped lines are named.
fn read_trace(config: &Path, name: &str) -> Result<Trace, CliError> {
    let (path, text) = read_beside(config, name, "trace")?;
    let trace =
        Trace::parse(&text).map_err(|e| CliError::Config(format!("trace {}: {e}", path.display())))?;
    for skipped in &trace.skipped {
        eprintln!("tokenmeter: trace {}: skipped {skipped}", path.display());
    }
    Ok(trace)
}

/// A file a setting names: a path relative to the configuration's folder unless absolute, and its text.
fn read_beside(config: &Path, name: &str, what: &str) -> Result<(PathBuf, String), CliError> {
    let path = config
        .parent()
        .map_or_else(|| PathBuf::from(name), |dir| dir.join(name));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Config(format!("{what} {}: cannot be read: {e}", path.display())))?;
    Ok((path, text))
}
