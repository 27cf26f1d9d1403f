//! The encoder: text → pre-tokenizer pieces → token ids, with tiktoken's special-token rules,
//! batches and long texts spread over threads, and decoding back.

use crate::error::{Error, Result};
use crate::pretokenize::Pretokenizer;
use crate::vocab::Vocab;
use crate::Progress;
use rayon::prelude::*;

/// Which special tokens `encode` may emit, and which it must refuse to see in the text.
#[derive(Clone, Debug, Default)]
pub struct SpecialPolicy {
    pub allowed: Vec<String>,
    pub disallowed: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Tokenizer {
    pub vocab: Vocab,
    pub pre: Pretokenizer,
    /// All special tokens, longest first so that a match is the longest one at its position.
    special_matcher: Option<regex::Regex>,
}

/// Texts longer than this are cut at safe points and encoded on several threads.
pub const PARALLEL_MIN: usize = 1 << 18;

/// Room for the ids of a text of `len` bytes, so that the list is rarely moved as it grows:
/// two ids for every three bytes (prose gives about one for four; Chinese with GPT-2's
/// vocabulary 0.57 per byte). Room that is never written is never touched either.
fn ids_capacity(len: usize) -> usize {
    len / 3 * 2 + 16
}

impl Tokenizer {
    pub fn new(vocab: Vocab, pre: Pretokenizer) -> Result<Self> {
        let special_matcher = special_matcher(vocab.specials.iter().map(|s| s.0.as_str()))?;
        Ok(Tokenizer { vocab, pre, special_matcher })
    }

    pub fn n_vocab(&self) -> usize {
        self.vocab.n_vocab()
    }

    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.vocab.specials.iter().find(|s| s.0 == text).map(|s| s.1)
    }

    /// Each piece is looked up one piece late: its table slot is prefetched when the scanner
    /// finds it, and read after the scanner has found the next, so the memory latency overlaps.
    fn encode_pieces(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut pending = "";
        self.pre.split(text, |piece| {
            self.vocab.prefetch(piece.as_bytes());
            if !pending.is_empty() {
                self.vocab.encode_text_piece(pending, out);
            }
            pending = piece;
        })?;
        if !pending.is_empty() {
            self.vocab.encode_text_piece(pending, out);
        }
        Ok(())
    }

    /// Cut `text` into pieces of about `target` bytes at points where the pre-tokenizer is known
    /// to start a new piece, so encoding the parts separately gives the same ids.
    pub fn safe_chunks<'t>(&self, text: &'t str, target: usize) -> Vec<&'t str> {
        let b = text.as_bytes();
        let mut chunks = Vec::new();
        let mut start = 0;
        while b.len() - start > target + target / 2 {
            // The first safe point past `target`, however far: a stretch without one (Chinese
            // text, whose letters are not ASCII) makes one long part, and the rest is cut as
            // before. (Giving up there kept the rest whole: 19 MB of a 100 MB file in one part,
            // on one core.)
            let mut at = start + target;
            while at < b.len() && !self.pre.is_safe_cut(b, at) {
                at += 1;
            }
            if at >= b.len() {
                break; // no safe point in the rest: keep it whole
            }
            chunks.push(&text[start..at]);
            start = at;
        }
        chunks.push(&text[start..]);
        chunks
    }

    /// Encode text that holds no special tokens (any special text is encoded as plain text).
    pub fn encode_ordinary(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_ordinary_in(text, &Progress::default())
    }

    /// `encode_ordinary`, reporting bytes done to `progress` and stopping when it is cancelled.
    /// A long text is cut at safe points and its parts encoded on all threads.
    pub fn encode_ordinary_in(&self, text: &str, progress: &Progress) -> Result<Vec<u32>> {
        let parts;
        let chunks: &[&str] = if text.len() >= PARALLEL_MIN {
            parts = self.safe_chunks(text, PARALLEL_MIN / 4);
            &parts
        } else {
            std::slice::from_ref(&text) // a short text: no list to allocate on every call
        };
        if chunks.len() > 1 && rayon::current_num_threads() > 1 {
            let parts: Result<Vec<Vec<u32>>> = chunks
                .par_iter()
                .map(|c| {
                    if progress.cancelled() {
                        return Err(Error::Interrupted);
                    }
                    let mut out = Vec::with_capacity(ids_capacity(c.len()));
                    self.encode_pieces(c, &mut out)?;
                    progress.add(c.len() as u64);
                    Ok(out)
                })
                .collect();
            return Ok(parts?.concat());
        }
        // One thread: the parts in turn, into one list (a list per part, joined, would copy
        // every id once more).
        let mut out = Vec::with_capacity(ids_capacity(text.len()));
        for &c in chunks {
            if progress.cancelled() {
                return Err(Error::Interrupted);
            }
            self.encode_pieces(c, &mut out)?;
            progress.add(c.len() as u64);
        }
        Ok(out)
    }

    /// The first special token in `text` at or after byte `from` that `pred` accepts.
    fn next_special(&self, text: &str, mut from: usize, pred: impl Fn(&str) -> bool) -> Option<(usize, usize)> {
        let matcher = self.special_matcher.as_ref()?;
        while let Some(m) = matcher.find_at(text, from) {
            if pred(m.as_str()) {
                return Some((m.start(), m.end()));
            }
            // Not accepted here: look again one character later.
            from = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }

    /// An error naming the first special token in `text` that `policy` disallows, if any.
    pub fn check_disallowed(&self, text: &str, policy: &SpecialPolicy) -> Result<()> {
        if !policy.disallowed.is_empty() {
            if let Some((s, e)) = self.next_special(text, 0, |m| policy.disallowed.iter().any(|d| d == m)) {
                return Err(Error::DisallowedSpecial(text[s..e].to_string()));
            }
        }
        Ok(())
    }

    /// Encode with tiktoken's rules: allowed special tokens become their ids; a disallowed one
    /// found in the text is an error; the rest is ordinary text.
    pub fn encode(&self, text: &str, policy: &SpecialPolicy) -> Result<Vec<u32>> {
        self.encode_in(text, policy, &Progress::default())
    }

    /// `encode`, reporting to `progress` and stopping when it is cancelled.
    pub fn encode_in(&self, text: &str, policy: &SpecialPolicy, progress: &Progress) -> Result<Vec<u32>> {
        self.check_disallowed(text, policy)?;
        if policy.allowed.is_empty() {
            return self.encode_ordinary_in(text, progress);
        }
        let mut out = Vec::new();
        let mut start = 0;
        while let Some((s, e)) = self.next_special(text, start, |m| policy.allowed.iter().any(|a| a == m)) {
            out.extend(self.encode_ordinary_in(&text[start..s], progress)?);
            out.push(self.special_id(&text[s..e]).expect("matched special exists"));
            start = e;
        }
        out.extend(self.encode_ordinary_in(&text[start..], progress)?);
        Ok(out)
    }

    /// Encode arbitrary bytes: valid UTF-8 stretches go through the pre-tokenizer; each invalid
    /// sequence is encoded as its own raw bytes, so decoding gives the input back exactly.
    pub fn encode_bytes(&self, bytes: &[u8]) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for chunk in bytes.utf8_chunks() {
            self.encode_pieces(chunk.valid(), &mut out)?;
            for &b in chunk.invalid() {
                out.push(self.vocab.byte_ids[b as usize]);
            }
        }
        Ok(out)
    }

    /// The number of tokens `encode` would give, without keeping them.
    pub fn count(&self, text: &str, policy: &SpecialPolicy) -> Result<usize> {
        self.count_in(text, policy, &Progress::default())
    }

    /// `count`, reporting to `progress` and stopping when it is cancelled.
    pub fn count_in(&self, text: &str, policy: &SpecialPolicy, progress: &Progress) -> Result<usize> {
        // Counting reuses one buffer for the ids of a chunk; only the length is kept. With no
        // special token allowed, the text is ordinary once none that is disallowed is in it.
        if policy.allowed.is_empty() {
            self.check_disallowed(text, policy)?;
            let mut n = 0usize;
            let mut buf = Vec::with_capacity(ids_capacity(text.len().min(2 * PARALLEL_MIN)));
            for chunk in self.safe_chunks(text, PARALLEL_MIN) {
                if progress.cancelled() {
                    return Err(Error::Interrupted);
                }
                progress.add(chunk.len() as u64);
                buf.clear();
                self.encode_pieces(chunk, &mut buf)?;
                n += buf.len();
            }
            return Ok(n);
        }
        Ok(self.encode_in(text, policy, progress)?.len())
    }

    /// Encode many texts in parallel (one task per text).
    pub fn encode_batch(&self, texts: &[&str], policy: &SpecialPolicy) -> Result<Vec<Vec<u32>>> {
        texts.par_iter().map(|t| self.encode(t, policy)).collect()
    }

    /// The bytes of a list of ids; an id outside the vocabulary is an error naming it.
    pub fn decode_bytes(&self, ids: &[i64]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            out.extend_from_slice(self.vocab.token_bytes(id)?);
        }
        Ok(out)
    }
}

fn special_matcher<'a>(specials: impl Iterator<Item = &'a str>) -> Result<Option<regex::Regex>> {
    let mut list: Vec<&str> = specials.collect();
    if list.is_empty() {
        return Ok(None);
    }
    list.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let alternation = list.iter().map(|s| regex::escape(s)).collect::<Vec<_>>().join("|");
    regex::Regex::new(&alternation)
        .map(Some)
        .map_err(|e| Error::Value(format!("special tokens cannot be matched: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> Tokenizer {
        let vocab = Vocab::from_merges(
            &crate::vocab::IDENTITY,
            &[(b'a' as u32, b'a' as u32), (256, b'a' as u32), (b' ' as u32, b'b' as u32)],
            vec![("<|endoftext|>".into(), 259)],
            "t",
        )
        .unwrap();
        Tokenizer::new(vocab, Pretokenizer::new("gpt2").unwrap()).unwrap()
    }

    #[test]
    fn encode_with_and_without_specials() {
        let t = tok();
        let none = SpecialPolicy::default();
        assert_eq!(t.encode_ordinary("aaa b").unwrap(), vec![257, 258]);
        let text = "aa<|endoftext|>a";
        let plain = t.encode(text, &none).unwrap();
        assert_eq!(t.decode_bytes(&plain.iter().map(|&i| i as i64).collect::<Vec<_>>()).unwrap(), text.as_bytes());
        let allowed = SpecialPolicy { allowed: vec!["<|endoftext|>".into()], disallowed: vec![] };
        assert_eq!(t.encode(text, &allowed).unwrap(), vec![256, 259, 97]);
        let strict = SpecialPolicy { allowed: vec![], disallowed: vec!["<|endoftext|>".into()] };
        assert!(matches!(t.encode(text, &strict), Err(Error::DisallowedSpecial(_))));
        assert_eq!(t.count("aaa b", &none).unwrap(), 2);
    }

    #[test]
    fn bytes_round_trip_and_bad_ids() {
        let t = tok();
        let raw = b"a\xffaa\xc3 b\xe4\xb8";
        let ids: Vec<i64> = t.encode_bytes(raw).unwrap().into_iter().map(|i| i as i64).collect();
        assert_eq!(t.decode_bytes(&ids).unwrap(), raw);
        assert!(matches!(t.decode_bytes(&[260]), Err(Error::TokenId(260, 260))));
        assert!(matches!(t.decode_bytes(&[-1]), Err(Error::TokenId(-1, _))));
    }

    /// Encoding `text` cut into parts, on two threads or in turn on one, gives the ids of one
    /// pass over it.
    fn parts_give_the_same_ids(t: &Tokenizer, text: &str) {
        let mut whole = Vec::new();
        t.encode_pieces(text, &mut whole).unwrap();
        for threads in [2, 1] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert_eq!(pool.install(|| t.encode_ordinary(text)).unwrap(), whole, "{threads} threads");
        }
    }

    #[test]
    fn long_text_splits_without_changing_ids() {
        let t = tok();
        let text = "aaa baa\nab aaaa b ".repeat(200_000);
        parts_give_the_same_ids(&t, &text);
    }

    #[test]
    fn a_stretch_without_safe_points_does_not_keep_the_rest_whole() {
        let t = tok();
        // Prose, then 200 KB with no safe point (Chinese: no ASCII letters), then prose again.
        let prose = "aaa baa\nab aaaa b ".repeat(20_000);
        let text = format!("{prose}{}{prose}", "中文字".repeat(200_000 / 9));
        let target = 1 << 16;
        let chunks = t.safe_chunks(&text, target);
        assert_eq!(chunks.concat(), text);
        let longest = chunks.iter().map(|c| c.len()).max().unwrap();
        // One part takes the stretch (and the target's worth of prose before it); the prose
        // after it is cut into parts of about `target` again.
        assert!(longest < 200_000 + 2 * target, "a part of {longest} bytes");
        let after = chunks.iter().rev().take_while(|c| c.len() < 2 * target).count();
        assert!(after >= prose.len() / (2 * target), "{after} parts after the stretch");
        parts_give_the_same_ids(&t, &text);
    }
}
