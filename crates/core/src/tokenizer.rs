//! Which tokenizer counts the tokens a server did not report (`tokenizer=`): LLMeter's whitespace words (its
//! `DummyTokenizer`, the default), OpenAI's BPEs `o200k_base` and `cl100k_base` (from the ranks file that ships
//! with the `tiktoken-rs` crate), or any Hugging Face `tokenizer.json` (`tokenizer=FILE.json`: the page picks it,
//! the command reads it beside its configuration), counted by the engine (`engine::tokenizer`) and loaded only
//! when a run names one. Generated prompts are written in words that words, `o200k_base` and `cl100k_base` each
//! count as one token, so they hit their length exactly with those; a Hugging Face tokenizer may split them.

use std::fmt;
use std::str::FromStr;

/// A tokenizer a run can count with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenizerKind {
    /// Whitespace-separated words (LLMeter's `DummyTokenizer`).
    #[default]
    Words,
    /// GPT-4o, GPT-4.1, GPT-5, o-series.
    O200kBase,
    /// GPT-4, GPT-3.5.
    Cl100kBase,
    /// A Hugging Face `tokenizer.json` (the model's own), named by its file.
    HuggingFace,
}

impl TokenizerKind {
    /// The tokenizers named by a word (a Hugging Face one is named by its file).
    pub const NAMED: [TokenizerKind; 3] = [
        TokenizerKind::Words,
        TokenizerKind::O200kBase,
        TokenizerKind::Cl100kBase,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TokenizerKind::Words => "words",
            TokenizerKind::O200kBase => "o200k_base",
            TokenizerKind::Cl100kBase => "cl100k_base",
            TokenizerKind::HuggingFace => "tokenizer.json",
        }
    }

    /// The ranks file an OpenAI BPE is read from (beside the page: `tokenizers/NAME.tiktoken`).
    pub fn ranks_file(self) -> Option<String> {
        match self {
            TokenizerKind::O200kBase | TokenizerKind::Cl100kBase => {
                Some(format!("tokenizers/{}.tiktoken", self.as_str()))
            }
            TokenizerKind::Words | TokenizerKind::HuggingFace => None,
        }
    }
}

impl fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenizerKind {
    type Err = String;

    /// A kind by its name (`tokenizer.json` for a Hugging Face one).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        TokenizerKind::NAMED
            .into_iter()
            .chain([TokenizerKind::HuggingFace])
            .find(|k| k.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("unknown tokenizer {text:?}"))
    }
}

/// The `tokenizer` setting: a kind, and the file of a Hugging Face tokenizer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenizerChoice {
    pub kind: TokenizerKind,
    /// The `tokenizer.json` file's name (a path beside the command's configuration), for a Hugging Face one.
    pub file: Option<String>,
}

impl FromStr for TokenizerChoice {
    type Err = String;

    /// `words` (or nothing), `o200k_base`, `cl100k_base`, or a file name ending in `.json`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.to_ascii_lowercase().ends_with(".json") {
            if text.chars().count() > 4096 {
                return Err("a tokenizer file name of at most 4096 characters".into());
            }
            return Ok(TokenizerChoice {
                kind: TokenizerKind::HuggingFace,
                file: Some(text.to_owned()),
            });
        }
        let kind = match text {
            "" => TokenizerKind::Words,
            name => TokenizerKind::NAMED
                .into_iter()
                .find(|k| k.as_str().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!(
                        "unknown tokenizer {name:?}: use words, o200k_base, cl100k_base or a Hugging Face \
                         tokenizer.json file"
                    )
                })?,
        };
        Ok(TokenizerChoice { kind, file: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_files_parse_and_only_bpes_have_a_ranks_file() {
        for kind in TokenizerKind::NAMED {
            let choice: TokenizerChoice = kind.as_str().parse().unwrap();
            assert_eq!((choice.kind, choice.file), (kind, None));
            assert_eq!(kind.as_str().parse::<TokenizerKind>(), Ok(kind));
        }
        assert_eq!("".parse::<TokenizerChoice>().unwrap().kind, TokenizerKind::Words);
        let hf: TokenizerChoice = "llama/tokenizer.JSON".parse().unwrap();
        assert_eq!(
            (hf.kind, hf.file.as_deref()),
            (TokenizerKind::HuggingFace, Some("llama/tokenizer.JSON"))
        );
        assert!("gpt2"
            .parse::<TokenizerChoice>()
            .unwrap_err()
            .contains("tokenizer.json"));
        assert_eq!(TokenizerKind::Words.ranks_file(), None);
        assert_eq!(TokenizerKind::HuggingFace.ranks_file(), None);
        assert_eq!(
            TokenizerKind::O200kBase.ranks_file().as_deref(),
            Some("tokenizers/o200k_base.tiktoken")
        );
    }
}
