//! A prefix cache, as vLLM's and SGLang's: a prompt's words are cut into blocks of [`BLOCK`], each block known by
//! the hash of everything up to its end, and a request's cached input tokens are the blocks at the start of its
//! prompt that an earlier prompt already had. Off unless asked for (`x-mock-prefix-cache: 1` or
//! `?prefix_cache=1`), so other tests keep reporting 0; the count is reported where each API reports it (OpenAI
//! `cached_tokens`, Anthropic `cache_read_input_tokens`, Bedrock `cacheReadInputTokens`).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::timing::Knobs;

/// Words per cache block.
pub const BLOCK: usize = 16;
/// Turns the cache on for a request.
pub const PREFIX_CACHE_HEADER: &str = "x-mock-prefix-cache";
/// Blocks remembered before the cache starts over (about 16 M words of distinct prefixes).
const CAPACITY: usize = 1 << 20;

/// The blocks seen, shared by every request of the server.
#[derive(Debug, Clone, Default)]
pub struct PrefixCache(Arc<Mutex<HashSet<u64>>>);

impl PrefixCache {
    /// The words of `text` at its start already cached (whole blocks), if the request turned the cache on;
    /// caches its blocks.
    pub fn cached_words(&self, knobs: &Knobs<'_>, text: &str) -> u64 {
        let on = knobs
            .get::<u8>(PREFIX_CACHE_HEADER, "prefix_cache")
            .ok()
            .flatten()
            .is_some_and(|v| v > 0);
        if !on {
            return 0;
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut hasher = DefaultHasher::new();
        let mut keys = Vec::new();
        for block in words.chunks_exact(BLOCK) {
            block.hash(&mut hasher);
            keys.push(hasher.finish());
        }
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let hits = keys.iter().take_while(|k| seen.contains(k)).count();
        if seen.len() + keys.len() > CAPACITY {
            seen.clear();
        }
        seen.extend(keys);
        (hits * BLOCK) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn a_shared_prefix_is_cached_block_by_block() {
        let cache = PrefixCache::default();
        let headers = HeaderMap::new();
        let on = Knobs::new(&headers, Some("prefix_cache=1"));
        let off = Knobs::new(&headers, None);
        let prefix: String = (0..40).map(|i| format!("w{i} ")).collect();
        assert_eq!(cache.cached_words(&on, &format!("{prefix} first question")), 0);
        // 40 shared words: two whole blocks of 16 (the third block differs by its end).
        assert_eq!(cache.cached_words(&on, &format!("{prefix} second question")), 32);
        assert_eq!(
            cache.cached_words(&off, &format!("{prefix} second question")),
            0,
            "off unless asked"
        );
        assert_eq!(cache.cached_words(&on, "another prompt entirely"), 0);
    }
}
