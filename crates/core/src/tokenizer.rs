//! Which tokenizer counts the tokens a server did not report (`tokenizer=`): LLMeter's whitespace words (its
//! `DummyTokenizer`, the default), or OpenAI's BPEs `o200k_base` and `cl100k_base`, counted by the engine
//! (`engine::tokenizer`) from the ranks file that ships with the `tiktoken-rs` crate, loaded only when a run names
//! one. Generated prompts are written in words that each of these counts as one token, so they hit their length
//! exactly whichever is chosen.

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
}

impl TokenizerKind {
    pub const ALL: [TokenizerKind; 3] = [
        TokenizerKind::Words,
        TokenizerKind::O200kBase,
        TokenizerKind::Cl100kBase,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TokenizerKind::Words => "words",
            TokenizerKind::O200kBase => "o200k_base",
            TokenizerKind::Cl100kBase => "cl100k_base",
        }
    }

    /// The ranks file a BPE is read from (beside the page: `tokenizers/NAME.tiktoken`); none for words.
    pub fn ranks_file(self) -> Option<String> {
        match self {
            TokenizerKind::Words => None,
            bpe => Some(format!("tokenizers/{}.tiktoken", bpe.as_str())),
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

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        TokenizerKind::ALL
            .into_iter()
            .find(|k| {
                k.as_str().eq_ignore_ascii_case(text) || (text.is_empty() && *k == TokenizerKind::Words)
            })
            .ok_or_else(|| format!("unknown tokenizer {text:?}: use words, o200k_base or cl100k_base"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_bpes_have_a_ranks_file() {
        for kind in TokenizerKind::ALL {
            assert_eq!(kind.as_str().parse::<TokenizerKind>(), Ok(kind));
        }
        assert_eq!("".parse::<TokenizerKind>(), Ok(TokenizerKind::Words));
        assert!("gpt2".parse::<TokenizerKind>().is_err());
        assert_eq!(TokenizerKind::Words.ranks_file(), None);
        assert_eq!(
            TokenizerKind::O200kBase.ranks_file().as_deref(),
            Some("tokenizers/o200k_base.tiktoken")
        );
    }
}
