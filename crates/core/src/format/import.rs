//! Which picked files an import reads, before reading any: a page must not read a 2 GB video in a picked folder
//! to find out it is not a run file, nor let one bad file lose the good ones. The page asks [`pick`] per file and
//! reads only what it says; every file skipped or refused is named.

use serde_json::{Map, Value};

use crate::format::stats_config_for;
use crate::stats::StatsConfig;

/// Which statistics an imported folder is kept with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportRules {
    /// The folder's own (LLMeter's percentile method and rate window for an LLMeter folder).
    #[default]
    Own,
    /// Recomputed under Tokenmeter's rules.
    Tokenmeter,
    /// Both, as two runs side by side.
    Both,
    /// Every picked folder merged into one run (the shards of one run).
    Merge,
}

impl ImportRules {
    pub const ALL: [ImportRules; 4] = [
        ImportRules::Own,
        ImportRules::Tokenmeter,
        ImportRules::Both,
        ImportRules::Merge,
    ];

    /// The form's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ImportRules::Own => "own",
            ImportRules::Tokenmeter => "tokenmeter",
            ImportRules::Both => "both",
            ImportRules::Merge => "merge",
        }
    }

    /// What the form says of it.
    pub const fn label(self) -> &'static str {
        match self {
            ImportRules::Own => "the folder's own rules (LLMeter's for LLMeter folders)",
            ImportRules::Tokenmeter => "recomputed with Tokenmeter's rules",
            ImportRules::Both => "both, side by side",
            ImportRules::Merge => "merged into one run (shards of one run)",
        }
    }

    /// The runs one folder becomes (none when merging, which makes one run of every folder): each with its
    /// statistics' rules, the label its name gets, and a sentence naming the rules. `saved` is the folder's own
    /// `stats.json`, whose rules are the folder's own.
    pub fn variants(self, saved: Option<&Map<String, Value>>) -> Vec<(StatsConfig, &'static str, String)> {
        let described = |whose: &str, config: &StatsConfig| {
            format!(
                "{whose} rules (percentiles: {}, rate window: {})",
                config.method.as_str(),
                config.rate_window.as_str()
            )
        };
        let own = || {
            let config = stats_config_for(saved, None);
            let text = described("the folder's own", &config);
            (config, "imported", text)
        };
        let ours = || {
            let config = StatsConfig::default();
            let text = described("Tokenmeter's", &config);
            (config, "Tokenmeter rules", text)
        };
        match self {
            ImportRules::Own => vec![own()],
            ImportRules::Tokenmeter => vec![ours()],
            ImportRules::Both => vec![own(), ours()],
            ImportRules::Merge => Vec::new(),
        }
    }
}

impl std::str::FromStr for ImportRules {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImportRules::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown import rules {s:?}"))
    }
}

/// The largest file an import reads (a page's wasm memory holds a few GB at most, and a file is held twice
/// while it is parsed).
pub const MAX_IMPORT_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// What to do with one picked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A run file (or `payload.jsonl`): read it as text.
    Text,
    /// A per-request file read a slice at a time, so of any size.
    Stream,
    /// A `.zip`: read its bytes and unpack it.
    Archive,
    /// No telling name at the top of the pick: read its bytes; a zip by its first bytes, else refused.
    Sniff,
    /// A file of a picked folder that is not a run file: skipped, with this note.
    Skip(String),
    /// Not importable: this error, and the other files go on.
    Refuse(String),
    /// A JSON file picked alone that is no run file: read it as another tool's results
    /// ([`crate::format::foreign`], which tells the tool by content or refuses it).
    Foreign,
}

/// What to do with the file `name`, at `path` (with `/` when it is inside a picked folder), of `size` bytes;
/// `run_files` are the names a run folder holds, of which the page reads `streamed` a slice at a time.
pub fn pick(name: &str, path: &str, size: u64, run_files: &[&str], streamed: &[&str]) -> Pick {
    let lower = name.to_ascii_lowercase();
    let in_folder = path.contains('/');
    let is_json = lower.ends_with(".json") || lower.ends_with(".jsonl");
    let is_zip = lower.ends_with(".zip");
    if in_folder && !is_json && !is_zip {
        return Pick::Skip(format!("{path}: not a run file, skipped"));
    }
    if is_json && streamed.contains(&name) {
        return Pick::Stream;
    }
    if size > MAX_IMPORT_FILE_BYTES {
        return Pick::Refuse(format!(
            "{path}: {:.0} MB is more than the {} MB a page imports at once; split the run or recompute it with the \
             tokenmeter command",
            size as f64 / 1e6,
            MAX_IMPORT_FILE_BYTES / (1024 * 1024)
        ));
    }
    if is_zip {
        return Pick::Archive;
    }
    if is_json {
        if !in_folder && !run_files.contains(&name) && name != "payload.jsonl" {
            return Pick::Foreign;
        }
        return Pick::Text;
    }
    Pick::Sniff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_rules_read_back_and_name_their_runs() {
        for rules in ImportRules::ALL {
            assert_eq!(rules.as_str().parse::<ImportRules>(), Ok(rules));
        }
        assert!("mine".parse::<ImportRules>().is_err());
        let llmeter: Map<String, Value> = serde_json::from_str(r#"{"total_requests": 3}"#).unwrap();
        let both = ImportRules::Both.variants(Some(&llmeter));
        assert_eq!(
            both.iter().map(|v| v.1).collect::<Vec<_>>(),
            ["imported", "Tokenmeter rules"]
        );
        assert!(
            both[0]
                .2
                .starts_with("the folder's own rules (percentiles: llmeter"),
            "{}",
            both[0].2
        );
        assert!(
            both[1].2.starts_with("Tokenmeter's rules (percentiles: linear"),
            "{}",
            both[1].2
        );
        assert!(ImportRules::Merge.variants(None).is_empty());
    }

    const RUN: [&str; 2] = ["stats.json", "responses.jsonl"];

    #[test]
    fn a_folders_other_files_are_skipped_unread_and_named() {
        assert_eq!(
            pick("clip.mp4", "runs/a/clip.mp4", 2_000_000_000, &RUN, &[]),
            Pick::Skip("runs/a/clip.mp4: not a run file, skipped".into())
        );
        assert_eq!(pick("stats.json", "runs/a/stats.json", 10, &RUN, &[]), Pick::Text);
        assert_eq!(
            pick("notes.json", "runs/a/notes.json", 10, &RUN, &[]),
            Pick::Text,
            "grouping decides later"
        );
        assert_eq!(pick("runs.zip", "runs/runs.zip", 10, &RUN, &[]), Pick::Archive);
    }

    #[test]
    fn oversized_and_unknown_top_level_files_are_refused_by_name() {
        let Pick::Refuse(big) = pick(
            "responses.jsonl",
            "responses.jsonl",
            MAX_IMPORT_FILE_BYTES + 1,
            &RUN,
            &[],
        ) else {
            panic!("refused")
        };
        assert!(
            big.starts_with("responses.jsonl: 268 MB is more than the 256 MB"),
            "{big}"
        );
        // Unless the page reads it a slice at a time: then any size.
        assert_eq!(
            pick(
                "responses.jsonl",
                "runs/a/responses.jsonl",
                1 << 40,
                &RUN,
                &["responses.jsonl"]
            ),
            Pick::Stream
        );
        assert!(matches!(
            pick("benchmarks.json", "benchmarks.json", 10, &RUN, &[]),
            Pick::Foreign
        ));
        assert_eq!(pick("download", "download", 10, &RUN, &[]), Pick::Sniff);
        assert_eq!(pick("stats.json", "stats.json", 10, &RUN, &[]), Pick::Text);
    }
}
