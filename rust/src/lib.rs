//! `bpe`: byte-level BPE, trained and applied exactly and fast.
//!
//! The stages, one module each: [`pretokenize`] cuts text into pieces, [`counts`] counts them
//! over a corpus, [`train`] learns merges, [`vocab`] holds the tokens, [`encode`] turns text into
//! ids and back, [`formats`] reads and writes tokenizer files. `py` (feature `python`) is the only
//! module that knows Python.

pub mod counts;
pub mod encode;
pub mod error;
pub mod formats;
mod lookup;
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
/// special tokens, which take the last ids. Returns the tokenizer and the merges actually learned
/// (fewer than asked when the corpus runs out of pairs).
pub fn train_tokenizer(
    counts: &counts::WordCounts,
    vocab_size: usize,
    specials: &[String],
    pre: pretokenize::Pretokenizer,
    progress: &Progress,
) -> Result<(Tokenizer, usize)> {
    check_vocab_size(vocab_size, specials)?;
    let wanted = vocab_size - 256 - specials.len();
    progress.start(wanted as u64);
    let trained = train::train(counts, wanted, progress)?;
    let n = trained.merges.len();
    let specials = specials.iter().enumerate().map(|(i, s)| (s.clone(), (256 + n + i) as u32)).collect();
    let vocab = vocab::Vocab::from_merges(&vocab::IDENTITY, &trained.merges, specials, "training")?;
    Ok((Tokenizer::new(vocab, pre)?, n))
}

/// How many tokens the counted corpus encodes to: each distinct piece encoded once, times its count.
pub fn corpus_tokens(tok: &Tokenizer, counts: &counts::WordCounts) -> u64 {
    use rayon::prelude::*;
    counts
        .words
        .par_iter()
        .map_init(Vec::new, |buf, (word, c)| {
            buf.clear();
            tok.vocab.encode_piece(word, buf);
            buf.len() as u64 * c
        })
        .sum()
}
