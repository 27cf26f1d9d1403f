//! `bpe`: byte-level BPE, trained and applied exactly and fast.
//!
//! The stages, one module each: [`pretokenize`] cuts text into pieces, [`counts`] counts them
//! over a corpus, [`train`] learns merges, [`vocab`] holds the tokens (and `cuts`, the points
//! where a piece can be cut without changing its ids), [`encode`] turns text into ids and back,
//! [`formats`] reads and writes tokenizer files, [`foreign`] reads tiktoken's and GPT-2's. `py` (feature `python`) is the only module that
//! knows Python.

pub mod counts;
mod cuts;
pub mod encode;
pub mod error;
pub mod foreign;
pub mod formats;
mod huge;
mod lookup;
mod piece_cache;
pub mod pretokenize;
pub mod shards;
pub mod train;
pub mod vocab;

#[cfg(feature = "python")]
mod py;

pub use encode::{SpecialPolicy, Tokenizer};
pub use error::{Error, Result};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Progress of a long job, read by another thread, and its stop switch.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancel: AtomicBool,
}

impl Progress {
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
    /// Start a new phase counting up to `total`.
    pub fn start(&self, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// The largest vocabulary we accept: ids must fit comfortably in u32 and tables in memory.
pub const MAX_VOCAB: usize = 1 << 22;

/// Check a requested vocabulary size against the special tokens it must hold.
pub fn check_vocab_size(vocab_size: usize, specials: &[String]) -> Result<()> {
    let floor = 256 + specials.len();
    if vocab_size < floor {
        return Err(Error::Value(format!(
            "vocab_size {vocab_size} is too small: it must hold the 256 byte tokens and the {} special token(s), so at least {floor}",
            specials.len()
        )));
    }
    if vocab_size > MAX_VOCAB {
        return Err(Error::Value(format!("vocab_size {vocab_size} is too large (the limit is {MAX_VOCAB})")));
    }
    for (i, s) in specials.iter().enumerate() {
        if s.is_empty() {
            return Err(Error::Value("a special token cannot be the empty string".into()));
        }
        if specials[..i].contains(s) {
            return Err(Error::Value(format!("the special token {s:?} is given twice")));
        }
    }
    Ok(())
}

/// Build a tokenizer from counted words: `vocab_size` counts the 256 bytes, the merges and the
/// special tokens, which take the last ids. Returns the tokenizer, the merges actually learned
/// (fewer than asked when the corpus runs out of pairs) and how many tokens the counted corpus
/// encodes to with it. Given the counts by value, training frees them once the words are in its
/// arena, so a large corpus does not hold both.
pub fn train_tokenizer<'c>(
    counts: impl Into<std::borrow::Cow<'c, counts::WordCounts>>,
    vocab_size: usize,
    specials: &[String],
    pre: pretokenize::Pretokenizer,
    progress: &Progress,
) -> Result<(Tokenizer, usize, u64)> {
    check_vocab_size(vocab_size, specials)?;
    let wanted = vocab_size - 256 - specials.len();
    progress.start(wanted as u64);
    let trained = match counts.into() {
        std::borrow::Cow::Borrowed(c) => train::train(c, wanted, progress)?,
        std::borrow::Cow::Owned(c) => train::train_owned(c, wanted, progress)?,
    };
    let n = trained.merges.len();
    let specials = specials.iter().enumerate().map(|(i, s)| (s.clone(), (256 + n + i) as u32)).collect();
    let vocab = vocab::Vocab::from_merges(&vocab::IDENTITY, &trained.merges, specials, "training")?;
    let tok = Tokenizer::new(vocab, pre)?;
    // Each distinct word, spelled back from its symbols, encoded once, times its count.
    let tokens = trained.corpus_tokens(&tok.vocab.tokens, |bytes, ids| tok.vocab.encode_piece(bytes, ids));
    drop(trained);
    release_free_memory(); // what the merge loop held in small blocks, for what comes next
    Ok((tok, n, tokens))
}

/// Hand memory the allocator holds but no longer uses back to the system: after counting (the
/// counter's maps), after the counts are in the trainer's arena, and after training. These are
/// many small blocks, which glibc keeps for reuse, while what comes next is mostly large tables
/// allocated elsewhere that would never reuse them.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns free pages to the kernel; it is safe at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts given by value train the same merges as counts lent, and the corpus token count,
    /// taken from the trainer's final words, equals encoding every counted word again.
    #[test]
    fn owned_and_borrowed_counts_train_alike() {
        let text = "the cat sat on the mat; the cats sat on the mats. a a aaaa  \n\n 中文中文 x\n".repeat(20);
        let pre = pretokenize::Pretokenizer::new("gpt2").unwrap();
        let progress = Progress::default();
        let counter = counts::Counter::new(&pre, counts::Utf8Policy::Replace, &progress);
        counter.add_texts(&[&text]).unwrap();
        let counts = counter.finish();
        let specials = vec!["<|endoftext|>".to_string()];
        let (lent, n1, t1) = train_tokenizer(&counts, 320, &specials, pre.clone(), &progress).unwrap();
        let (owned, n2, t2) = train_tokenizer(counts.clone(), 320, &specials, pre.clone(), &progress).unwrap();
        assert_eq!((n1, t1), (n2, t2));
        assert_eq!(lent.vocab.merges().unwrap(), owned.vocab.merges().unwrap());
        let mut ids = Vec::new();
        let direct: u64 = counts
            .words
            .iter()
            .map(|(w, c)| {
                ids.clear();
                lent.vocab.encode_piece(w, &mut ids);
                ids.len() as u64 * c
            })
            .sum();
        assert_eq!(t1, direct);
        assert_eq!(t1 as usize, lent.encode_ordinary(&text).unwrap().len());
    }
}
