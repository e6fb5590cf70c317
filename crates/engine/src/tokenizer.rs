//! Counting with a real tokenizer (`tokenizer=o200k_base` or `cl100k_base`): OpenAI's BPE by `tiktoken-rs`, built
//! from its ranks file (`NAME.tiktoken`: a base64 token and its rank per line). In the page it runs in a worker
//! of its own (`tokenmeter-tokenizer`), started only when a run names a tokenizer, which fetches that file (copied
//! beside the page from the `tiktoken-rs` crate at build time): neither the page's nor the engine's module carries
//! the BPE's code or data. The command uses the copy compiled into it. Input and output tokens a server did not
//! report are counted with it ([`Recount`]), and the record says so (`tokens_counted_by`), flagged as not
//! reported.

#[cfg(not(target_arch = "wasm32"))]
use std::cell::RefCell;
use std::rc::Rc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::future::{self, LocalBoxFuture};
use rustc_hash::FxHashMap;
use tiktoken_rs::CoreBPE;

use tokenmeter_core::record::RequestRecord;
use tokenmeter_core::tokenizer::TokenizerKind;

/// cl100k_base's pre-tokenizer pattern (tiktoken's, as `tiktoken-rs` writes it).
const CL100K_PATTERN: &str = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|\\s++$|\\s*[\\r\\n]|\\s+(?!\\S)|\\s";

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    /// Tokenizers built on this thread (a command's shard): each once, however many runs.
    static LOADED: RefCell<Vec<Rc<Tokenizer>>> = const { RefCell::new(Vec::new()) };
}

/// The tokenizer natively: a Hugging Face one from its `json`, else the copy of a BPE compiled into
/// `tiktoken-rs`, built once per thread (`None` for words).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_native(kind: TokenizerKind, json: Option<&str>) -> Result<Option<Rc<Tokenizer>>, String> {
    if kind == TokenizerKind::HuggingFace {
        let json = json.ok_or("the Hugging Face tokenizer.json was not given")?;
        return Tokenizer::from_json(json).map(|t| Some(Rc::new(t)));
    }
    load_builtin(kind)
}

/// A BPE compiled into `tiktoken-rs`, built once per thread (`None` for words and Hugging Face).
#[cfg(not(target_arch = "wasm32"))]
fn load_builtin(kind: TokenizerKind) -> Result<Option<Rc<Tokenizer>>, String> {
    if let Some(loaded) = LOADED.with(|l| l.borrow().iter().find(|t| t.kind == kind).cloned()) {
        return Ok(Some(loaded));
    }
    let Some(tokenizer) = Tokenizer::builtin(kind)? else {
        return Ok(None);
    };
    let tokenizer = Rc::new(tokenizer);
    LOADED.with(|l| l.borrow_mut().push(tokenizer.clone()));
    Ok(Some(tokenizer))
}

/// A loaded tokenizer.
pub struct Tokenizer {
    kind: TokenizerKind,
    model: Model,
}

enum Model {
    /// OpenAI's BPE (`tiktoken-rs`).
    Bpe(CoreBPE),
    /// A Hugging Face `tokenizer.json` (the `tokenizers` crate, pure Rust).
    HuggingFace(Box<tokenizers::Tokenizer>),
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("kind", &self.kind).finish()
    }
}

impl Tokenizer {
    /// The tokenizer `kind` from the text of its ranks file. Words need no file: `None`.
    pub fn from_ranks(kind: TokenizerKind, ranks: &str) -> Result<Option<Tokenizer>, String> {
        let (pattern, special): (&str, &[(&str, u32)]) = match kind {
            TokenizerKind::Words | TokenizerKind::HuggingFace => return Ok(None),
            TokenizerKind::O200kBase => (
                tiktoken_rs::O200K_BASE_PAT_STR,
                &[("<|endoftext|>", 199_999), ("<|endofprompt|>", 200_018)],
            ),
            TokenizerKind::Cl100kBase => (
                CL100K_PATTERN,
                &[
                    ("<|endoftext|>", 100_257),
                    ("<|fim_prefix|>", 100_258),
                    ("<|fim_middle|>", 100_259),
                    ("<|fim_suffix|>", 100_260),
                    ("<|endofprompt|>", 100_276),
                ],
            ),
        };
        let mut encoder = FxHashMap::default();
        for (n, line) in ranks.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let bad = || format!("{kind} ranks, line {}: not \"BASE64 RANK\"", n + 1);
            let (token, rank) = line.split_once(' ').ok_or_else(bad)?;
            let token = STANDARD.decode(token).map_err(|_| bad())?;
            encoder.insert(token, rank.trim().parse().map_err(|_| bad())?);
        }
        if encoder.len() < 1000 {
            return Err(format!(
                "{kind} ranks: {} entries, not a tiktoken ranks file",
                encoder.len()
            ));
        }
        let special = special.iter().map(|&(s, r)| (s.to_owned(), r)).collect();
        let bpe = CoreBPE::new(encoder, special, pattern).map_err(|e| format!("{kind}: {e}"))?;
        Ok(Some(Tokenizer {
            kind,
            model: Model::Bpe(bpe),
        }))
    }

    /// A Hugging Face tokenizer from its `tokenizer.json` text.
    pub fn from_json(json: &str) -> Result<Tokenizer, String> {
        let hf = tokenizers::Tokenizer::from_bytes(json.as_bytes())
            .map_err(|e| format!("not a Hugging Face tokenizer.json: {e}"))?;
        Ok(Tokenizer {
            kind: TokenizerKind::HuggingFace,
            model: Model::HuggingFace(Box::new(hf)),
        })
    }

    /// The tokenizer compiled into `tiktoken-rs` (the command, native tests); the page loads ranks instead.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn builtin(kind: TokenizerKind) -> Result<Option<Tokenizer>, String> {
        let bpe = match kind {
            TokenizerKind::Words | TokenizerKind::HuggingFace => return Ok(None),
            TokenizerKind::O200kBase => tiktoken_rs::o200k_base(),
            TokenizerKind::Cl100kBase => tiktoken_rs::cl100k_base(),
        };
        Ok(Some(Tokenizer {
            kind,
            model: Model::Bpe(bpe.map_err(|e| format!("{kind}: {e}"))?),
        }))
    }

    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// Tokens in `text` (special tokens' text counted as ordinary text, as a prompt's would be; no special
    /// tokens added). A text a Hugging Face tokenizer cannot encode counts as its words.
    pub fn count(&self, text: &str) -> u64 {
        match &self.model {
            Model::Bpe(bpe) => bpe.count_ordinary(text) as u64,
            Model::HuggingFace(hf) => hf.encode(text, false).map_or_else(
                |_| text.split_whitespace().count() as u64,
                |encoding| encoding.len() as u64,
            ),
        }
    }
}

/// From the page's engine to the tokenizer's own worker (JSON): load a tokenizer once, then count texts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToTokenizer {
    /// `json`: a Hugging Face `tokenizer.json`'s text (`kind` is then `tokenizer.json`).
    Load {
        kind: String,
        json: Option<String>,
    },
    Count {
        id: u64,
        texts: Vec<String>,
    },
}

/// From the tokenizer's worker to the engine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromTokenizer {
    /// The worker listens (sent first).
    Ready,
    Loaded,
    Counted {
        id: u64,
        counts: Vec<u64>,
    },
    /// Loading failed (`id` none), or a count did.
    Failed {
        id: Option<u64>,
        message: String,
    },
}

/// Something that counts tokens: the tokenizer itself (natively, and in the tokenizer's own worker), or the page
/// engine's handle on that worker, which counts asynchronously so the engine's module never links the BPE.
pub trait CountTokens {
    fn kind(&self) -> TokenizerKind;
    /// Tokens in each of `texts`, in order.
    fn count(&self, texts: Vec<String>) -> LocalBoxFuture<'static, Result<Vec<u64>, String>>;
}

impl CountTokens for Rc<Tokenizer> {
    fn kind(&self) -> TokenizerKind {
        self.kind
    }

    fn count(&self, texts: Vec<String>) -> LocalBoxFuture<'static, Result<Vec<u64>, String>> {
        let counts = texts.iter().map(|t| Tokenizer::count(self, t)).collect();
        Box::pin(future::ready(Ok(counts)))
    }
}

/// The tokens of a record the server did not report (those estimated as words), to count with a tokenizer: the
/// input from its prompt, the output from its text. When every estimated count can be recounted the record will
/// name the tokenizer; without a kept text (low memory) the output stays a word count, and the record says words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recount {
    /// The texts to count: the prompt (when `input`), then the answer (when `output`).
    pub texts: Vec<String>,
    input: bool,
    output: bool,
    complete: bool,
}

impl Recount {
    /// What `record` needs counted, if anything.
    pub fn of(record: &RequestRecord) -> Option<Recount> {
        let estimated = record.tokens_estimated;
        let mut recount = Recount {
            texts: Vec::new(),
            input: false,
            output: false,
            complete: true,
        };
        if estimated.input {
            match &record.input_prompt {
                Some(prompt) => {
                    recount.texts.push(prompt.clone());
                    recount.input = true;
                }
                None => recount.complete = false,
            }
        }
        if estimated.output {
            match &record.response_text {
                Some(text) => {
                    recount.texts.push(text.clone());
                    recount.output = true;
                }
                // No visible output: zero tokens whatever counts them.
                None if record.tokens.output == Some(0) => {}
                None => recount.complete = false,
            }
        }
        (!recount.texts.is_empty()).then_some(recount)
    }

    /// Writes `counts` (one per text, in order) into `record`, counted by `kind`.
    pub fn apply(&self, record: &mut RequestRecord, counts: &[u64], kind: TokenizerKind) {
        let mut counts = counts.iter().copied();
        if self.input {
            record.tokens.input = counts.next().or(record.tokens.input);
        }
        if self.output {
            record.tokens.output = counts.next().or(record.tokens.output);
        }
        if self.complete {
            record.tokens_counted_by = Some(kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenmeter_core::payload::generated_prompt;
    use tokenmeter_core::record::EstimatedTokens;

    /// The sentence the page's e2e test counts in its tokenizer worker: 4 words, 13 tokens in both BPEs.
    pub const SENTENCE: &str = "Antidisestablishmentarianism and internationalisation, tokenised.";

    #[test]
    fn a_sentence_of_long_words_is_more_tokens_than_words() {
        for kind in [TokenizerKind::O200kBase, TokenizerKind::Cl100kBase] {
            let t = Tokenizer::builtin(kind).unwrap().unwrap();
            assert_eq!(t.count(SENTENCE), 13, "{kind}");
        }
    }

    #[test]
    fn generated_prompts_hit_their_length_in_both_bpes() {
        for kind in [TokenizerKind::O200kBase, TokenizerKind::Cl100kBase] {
            let t = Tokenizer::builtin(kind).unwrap().unwrap();
            for (n, seed) in [(1, 1), (17, 2), (512, 3), (4000, 4)] {
                assert_eq!(
                    t.count(&generated_prompt(n, seed)),
                    u64::from(n),
                    "{kind}: {n} words"
                );
            }
        }
    }

    #[test]
    fn a_ranks_file_builds_the_same_tokenizer_and_a_bad_one_is_named() {
        let ranks: String = (0u32..2000)
            .map(|r| format!("{} {r}\n", STANDARD.encode(r.to_le_bytes())))
            .collect();
        let t = Tokenizer::from_ranks(TokenizerKind::O200kBase, &ranks)
            .unwrap()
            .unwrap();
        assert_eq!(t.kind(), TokenizerKind::O200kBase);
        assert!(Tokenizer::from_ranks(TokenizerKind::Words, "").unwrap().is_none());
        let err = Tokenizer::from_ranks(TokenizerKind::Cl100kBase, "%%% 1\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        let err = Tokenizer::from_ranks(TokenizerKind::Cl100kBase, "QQ== 1\n").unwrap_err();
        assert!(err.contains("not a tiktoken ranks file"), "{err}");
    }

    #[test]
    fn a_hugging_face_tokenizer_json_counts_as_its_model_does() {
        let json = include_str!("../../../tests/data/tokenizers/word_level.json");
        let t = Tokenizer::from_json(json).unwrap();
        assert_eq!(t.kind(), TokenizerKind::HuggingFace);
        // Its pre-tokenizer splits punctuation off: 4 words, 6 tokens.
        assert_eq!(t.count("Hello, load testing world!"), 6);
        let err = Tokenizer::from_json("{\"model\": 1}").unwrap_err();
        assert!(err.contains("not a Hugging Face tokenizer.json"), "{err}");
        assert!(load_native(TokenizerKind::HuggingFace, None).is_err());
    }

    /// What the engine does with a finished record ([`Recount`] of it, counted, applied), at once.
    fn recount(t: &Tokenizer, record: &mut RequestRecord) {
        if let Some(recount) = Recount::of(record) {
            let counts: Vec<u64> = recount.texts.iter().map(|text| t.count(text)).collect();
            recount.apply(record, &counts, t.kind());
        }
    }

    #[test]
    fn unreported_tokens_are_counted_and_the_record_names_the_tokenizer() {
        let t = Tokenizer::builtin(TokenizerKind::O200kBase).unwrap().unwrap();
        let mut record = RequestRecord {
            input_prompt: Some("Tokenization isn't whitespace: 1234567 splits.".into()),
            response_text: Some("internationalisation".into()),
            tokens_estimated: EstimatedTokens {
                input: true,
                output: true,
            },
            ..Default::default()
        };
        recount(&t, &mut record);
        assert_eq!(record.tokens_counted_by, Some(TokenizerKind::O200kBase));
        let words = 6;
        assert!(record.tokens.input.unwrap() > words, "{:?}", record.tokens);
        assert!(record.tokens.output.unwrap() >= 2, "{:?}", record.tokens);
        // Reported counts are left alone.
        let mut reported = RequestRecord {
            input_prompt: Some("a b".into()),
            ..Default::default()
        };
        reported.tokens.input = Some(99);
        recount(&t, &mut reported);
        assert_eq!(
            (reported.tokens.input, reported.tokens_counted_by),
            (Some(99), None)
        );
    }
}
