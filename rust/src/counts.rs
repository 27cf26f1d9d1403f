//! Counting pre-tokens: files are streamed in blocks cut at safe points, the blocks split and
//! counted on all threads into per-block maps, and those merged into hash-sharded totals.
//! Memory grows with the number of distinct pieces, not with the size of the corpus.

use crate::error::{Error, Result};
use crate::pretokenize::Pretokenizer;
use crate::Progress;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

const SHARDS: usize = 64;
/// Bytes read per block; blocks end at a safe cut, so they run a little longer.
pub(crate) const BLOCK: usize = 4 << 20;

/// How invalid UTF-8 in a corpus is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf8Policy {
    /// Each invalid sequence becomes U+FFFD and is counted (the default).
    Replace,
    /// The first invalid sequence is an error naming the file and byte offset.
    Strict,
}

/// Distinct pieces and how often each occurs, sorted by bytes (so the same corpus gives the same
/// list whatever the thread count).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WordCounts {
    pub words: Vec<(Vec<u8>, u64)>,
    /// Corpus bytes that were counted.
    pub bytes: u64,
    /// Invalid UTF-8 sequences that were replaced by U+FFFD while counting.
    pub replaced: u64,
}

/// Training takes counts lent or given (given, it frees them early).
impl<'a> From<&'a WordCounts> for std::borrow::Cow<'a, WordCounts> {
    fn from(c: &'a WordCounts) -> Self {
        std::borrow::Cow::Borrowed(c)
    }
}

impl From<WordCounts> for std::borrow::Cow<'_, WordCounts> {
    fn from(c: WordCounts) -> Self {
        std::borrow::Cow::Owned(c)
    }
}

impl WordCounts {
    /// The sum of two counts, still sorted. A word whose counts add up past `MAX_COUNT` is an
    /// error naming it (a wrapped sum would silently train on the wrong counts).
    pub fn merge(self, other: WordCounts) -> Result<WordCounts> {
        let mut words = Vec::with_capacity(self.words.len().max(other.words.len()));
        let (mut a, mut b) = (self.words.into_iter().peekable(), other.words.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => match x.0.cmp(&y.0) {
                    std::cmp::Ordering::Less => a.next(),
                    std::cmp::Ordering::Greater => b.next(),
                    std::cmp::Ordering::Equal => {
                        let (w, c) = a.next().unwrap();
                        let sum = c.checked_add(b.next().unwrap().1).filter(|&s| s <= MAX_COUNT);
                        let sum = sum.ok_or_else(|| {
                            Error::Value(format!(
                                "the counts of the word {} add up to more than {MAX_COUNT} (2^63 - 1), the most training takes",
                                crate::formats::show_bytes(&w)
                            ))
                        })?;
                        Some((w, sum))
                    }
                },
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            words.push(next.unwrap());
        }
        Ok(WordCounts {
            words,
            bytes: self.bytes.saturating_add(other.bytes),
            replaced: self.replaced.saturating_add(other.replaced),
        })
    }
}

/// The largest count of one word that training takes (its counts are signed 64-bit).
pub const MAX_COUNT: u64 = i64::MAX as u64;

pub const COUNTS_MAGIC: &[u8] = b"bpe-counts";
pub const COUNTS_VERSION: u32 = 1;

impl WordCounts {
    /// The `.counts` file: a text header line `bpe-counts 1 {json}` (pattern, words, bytes), then
    /// per word, in byte order: its length (u32 LE), its bytes, its count (u64 LE).
    pub fn to_file_bytes(&self, pattern: &str) -> Vec<u8> {
        let header = serde_json::json!({
            "pattern": pattern, "words": self.words.len(), "bytes": self.bytes, "replaced": self.replaced
        });
        let mut out = Vec::with_capacity(64 + self.words.iter().map(|(w, _)| w.len() + 12).sum::<usize>());
        out.extend_from_slice(COUNTS_MAGIC);
        out.extend_from_slice(format!(" {COUNTS_VERSION} {header}\n").as_bytes());
        for (w, c) in &self.words {
            out.extend_from_slice(&(w.len() as u32).to_le_bytes());
            out.extend_from_slice(w);
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    /// Parse a `.counts` file; returns the counts and the pattern they were made with.
    pub fn from_file_bytes(data: &[u8], source: &str) -> Result<(WordCounts, String)> {
        let bad = |msg: String| Error::Format(source.to_string(), 0, msg);
        let newline = data.iter().position(|&b| b == b'\n').ok_or_else(|| bad("not a .counts file (no header line)".into()))?;
        let header = std::str::from_utf8(&data[..newline]).map_err(|_| bad("not a .counts file".into()))?;
        let rest = header.strip_prefix("bpe-counts ").ok_or_else(|| bad("not a .counts file (it must start with \"bpe-counts\")".into()))?;
        let (version, json) = rest.split_once(' ').ok_or_else(|| bad("header lacks its metadata".into()))?;
        if version != COUNTS_VERSION.to_string() {
            return Err(bad(format!("unsupported version {version:?}; this build reads version {COUNTS_VERSION}")));
        }
        let meta: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(format!("header metadata is not JSON: {e}")))?;
        let field = |k: &str| meta.get(k).and_then(|v| v.as_u64()).ok_or_else(|| bad(format!("header lacks \"{k}\"")));
        let (n, bytes, replaced) = (field("words")? as usize, field("bytes")?, field("replaced")?);
        let pattern = meta.get("pattern").and_then(|v| v.as_str()).ok_or_else(|| bad("header lacks \"pattern\"".into()))?.to_string();
        let mut words: Vec<(Vec<u8>, u64)> = Vec::with_capacity(n.min(data.len() / 13 + 1));
        let mut at = newline + 1;
        for i in 0..n {
            let truncated = || bad(format!("truncated: the header promises {n} words, the data ends in word {i} (byte offset {at})"));
            let len = u32::from_le_bytes(data.get(at..at + 4).ok_or_else(truncated)?.try_into().unwrap()) as usize;
            let word = data.get(at + 4..at + 4 + len).ok_or_else(truncated)?;
            let count = u64::from_le_bytes(data.get(at + 4 + len..at + 12 + len).ok_or_else(truncated)?.try_into().unwrap());
            if word.is_empty() || count == 0 {
                return Err(bad(format!("word {i} (byte offset {at}) is empty or has count 0")));
            }
            if count > MAX_COUNT {
                return Err(bad(format!("word {i} (byte offset {at}) has count {count}, more than {MAX_COUNT} (2^63 - 1), the most training takes")));
            }
            if let Some((prev, _)) = words.last() {
                if prev.as_slice() >= word {
                    return Err(bad(format!("word {i} (byte offset {at}) is out of order or repeated")));
                }
            }
            words.push((word.to_vec(), count));
            at += 12 + len;
        }
        if at != data.len() {
            return Err(bad(format!("{} bytes of trailing data after the {n} words", data.len() - at)));
        }
        Ok((WordCounts { words, bytes, replaced }, pattern))
    }
}

/// Accumulates counts from texts and files; `finish` gives the sorted totals.
pub struct Counter<'a> {
    pre: &'a Pretokenizer,
    shards: Vec<Mutex<FxHashMap<Box<[u8]>, u64>>>,
    policy: Utf8Policy,
    progress: &'a Progress,
    bytes: std::sync::atomic::AtomicU64,
    /// Invalid UTF-8 sequences replaced so far.
    pub replaced: std::sync::atomic::AtomicU64,
    /// Things worth a warning (skipped files, replacements), for the caller to show.
    pub warnings: Mutex<Vec<String>>,
}

impl<'a> Counter<'a> {
    pub fn new(pre: &'a Pretokenizer, policy: Utf8Policy, progress: &'a Progress) -> Self {
        Counter {
            pre,
            shards: (0..SHARDS).map(|_| Mutex::new(FxHashMap::default())).collect(),
            policy,
            progress,
            bytes: Default::default(),
            replaced: Default::default(),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Count the pieces of one text into the shared totals.
    fn count_text(&self, text: &str) -> Result<()> {
        if self.progress.cancelled() {
            return Err(Error::Interrupted);
        }
        let mut local: FxHashMap<&str, u64> = FxHashMap::default();
        self.pre.split(text, |piece| *local.entry(piece).or_insert(0) += 1)?;
        let mut by_shard: Vec<Vec<(&str, u64)>> = vec![Vec::new(); SHARDS];
        for (piece, count) in local {
            let mut h = FxHasher::default();
            piece.as_bytes().hash(&mut h);
            by_shard[(h.finish() >> 58) as usize % SHARDS].push((piece, count));
        }
        for (shard, items) in self.shards.iter().zip(by_shard) {
            if items.is_empty() {
                continue;
            }
            let mut map = shard.lock().unwrap();
            for (piece, count) in items {
                match map.get_mut(piece.as_bytes()) {
                    Some(c) => *c += count,
                    None => {
                        map.insert(piece.as_bytes().into(), count);
                    }
                }
            }
        }
        self.bytes.fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.progress.add(text.len() as u64);
        Ok(())
    }

    /// Count many texts on all threads; long texts are cut at safe points first.
    pub fn add_texts(&self, texts: &[&str]) -> Result<()> {
        let parts: Vec<&str> = texts.iter().flat_map(|t| self.pre_chunks(t)).collect();
        parts.par_iter().try_for_each(|t| self.count_text(t))
    }

    fn pre_chunks<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut start = 0;
        while b.len() - start > 2 * BLOCK / 4 {
            let mut at = start + BLOCK / 4;
            while at < b.len() && !self.pre.is_safe_cut(b, at) {
                at += 1;
            }
            if at >= b.len() {
                break;
            }
            out.push(&text[start..at]);
            start = at;
        }
        out.push(&text[start..]);
        out
    }

    /// Decode a block of a file by the UTF-8 policy. `offset` is the block's place in the file.
    fn decode<'b>(&self, bytes: &'b [u8], path: &Path, offset: u64) -> Result<std::borrow::Cow<'b, str>> {
        decode_block(bytes, path, offset, self.policy, &self.replaced)
    }

    /// Count files: small ones whole and several at a time, large ones streamed one by one with
    /// their blocks spread over the threads.
    pub fn add_files(&self, paths: &[impl AsRef<Path> + Sync]) -> Result<()> {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let (small, large): (Vec<&Path>, Vec<&Path>) =
            paths.iter().map(|p| p.as_ref()).partition(|p| size(p) <= BLOCK as u64);
        small.par_iter().try_for_each(|p| self.add_small_file(p))?;
        large.iter().try_for_each(|p| self.add_file(p))
    }

    fn add_small_file(&self, path: &Path) -> Result<()> {
        if path.is_dir() {
            return Err(Error::Value(format!("{}: is a directory, not a file", path.display())));
        }
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if self.looks_binary(&data, path) {
            return Ok(());
        }
        let text = self.decode(&data, path, 0)?;
        self.count_text(&text)
    }

    fn looks_binary(&self, head: &[u8], path: &Path) -> bool {
        looks_binary(head, path, &self.warnings)
    }

    /// Stream one file in blocks (see `for_each_block_batch`), counting each batch of blocks in
    /// parallel. A file that looks binary (a NUL byte in its first 8 KB) is skipped with a warning.
    pub fn add_file(&self, path: &Path) -> Result<()> {
        let mut first = true;
        for_each_block_batch(path, self.pre, |blocks| {
            if std::mem::take(&mut first) && blocks.first().is_some_and(|(_, b)| self.looks_binary(b, path)) {
                return Ok(false);
            }
            blocks.par_iter().try_for_each(|(off, block)| {
                let text = self.decode(block, path, *off)?;
                self.count_text(&text)
            })?;
            Ok(true)
        })
    }

    /// The totals, sorted by bytes.
    pub fn finish(self) -> WordCounts {
        let bytes = self.bytes.into_inner();
        let replaced = self.replaced.into_inner();
        let mut words: Vec<(Vec<u8>, u64)> = self
            .shards
            .into_par_iter()
            .flat_map_iter(|m| m.into_inner().unwrap().into_iter().map(|(k, v)| (k.into_vec(), v)))
            .collect();
        words.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        crate::release_free_memory(); // the shards' tables
        WordCounts { words, bytes, replaced }
    }
}

/// Decode a block of `path` (at `offset` in it) by the UTF-8 policy: strict names the offset of
/// the first invalid byte; replace substitutes U+FFFD and adds the count to `replaced`.
pub(crate) fn decode_block<'b>(
    bytes: &'b [u8],
    path: &Path,
    offset: u64,
    policy: Utf8Policy,
    replaced: &std::sync::atomic::AtomicU64,
) -> Result<std::borrow::Cow<'b, str>> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.into()),
        Err(e) if policy == Utf8Policy::Strict => Err(Error::Utf8(path.display().to_string(), offset + e.valid_up_to() as u64)),
        Err(_) => {
            let bad = bytes.utf8_chunks().filter(|c| !c.invalid().is_empty()).count() as u64;
            replaced.fetch_add(bad, std::sync::atomic::Ordering::Relaxed);
            Ok(String::from_utf8_lossy(bytes))
        }
    }
}

/// Read `path` in blocks of about `BLOCK` bytes, each ending where `pre` is known to start a new
/// piece (so the blocks handled apart give what the whole file would), and hand them to
/// `each_batch` a few at a time (twice as many as there are threads), each with its offset in
/// the file. Memory stays a few blocks whatever the file's size, newlines or none; a stretch
/// with no safe point grows its block until one comes. `each_batch` returns false to stop.
pub(crate) fn for_each_block_batch(
    path: &Path,
    pre: &Pretokenizer,
    mut each_batch: impl FnMut(&[(u64, Vec<u8>)]) -> Result<bool>,
) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Value(format!("{}: is a directory, not a file", path.display())));
    }
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let threads = rayon::current_num_threads().max(1);
    let mut pending: Vec<u8> = Vec::new(); // bytes read but not yet handed out
    let mut offset: u64 = 0; // file offset of pending[0]
    let mut eof = false;
    let mut read_more = |pending: &mut Vec<u8>, eof: &mut bool| -> Result<()> {
        let before = pending.len();
        pending.resize(before + BLOCK, 0);
        let n = read_full(&mut file, &mut pending[before..]).map_err(|e| Error::io(path, e))?;
        pending.truncate(before + n);
        *eof = n == 0;
        Ok(())
    };
    while !eof || !pending.is_empty() {
        let mut blocks: Vec<(u64, Vec<u8>)> = Vec::new();
        while blocks.len() < threads * 2 && !(eof && pending.is_empty()) {
            while pending.len() < BLOCK && !eof {
                read_more(&mut pending, &mut eof)?;
            }
            let cut = if eof { pending.len() } else { last_safe_cut(pre, &pending) };
            if cut == 0 {
                read_more(&mut pending, &mut eof)?; // no safe point yet: the block grows
                continue;
            }
            let rest = pending.split_off(cut);
            blocks.push((offset, std::mem::replace(&mut pending, rest)));
            offset += cut as u64;
        }
        if !blocks.is_empty() && !each_batch(&blocks)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Whether a file whose first bytes are `head` looks binary (a NUL byte in its first 8 KB): such
/// a file is skipped, in counting and in shards, with a note in `notes` saying so.
pub(crate) fn looks_binary(head: &[u8], path: &Path, notes: &Mutex<Vec<String>>) -> bool {
    let binary = head[..head.len().min(8192)].contains(&0);
    if binary {
        let note = format!("{}: skipped: it looks binary (a NUL byte in its first 8 KB)", path.display());
        notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
    }
    binary
}

/// The last safe cut in the second half of `buf`, or 0 if there is none.
fn last_safe_cut(pre: &Pretokenizer, buf: &[u8]) -> usize {
    let mut at = buf.len().saturating_sub(2);
    while at > buf.len() / 2 {
        if pre.is_safe_cut(buf, at) {
            return at;
        }
        at -= 1;
    }
    0
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_a_file_counts_like_one_text() {
        let pre = Pretokenizer::new("gpt2").unwrap();
        let text = "the cat sat\non the mat's edge  \n\nthe end ".repeat(300_000);
        let dir = std::env::temp_dir().join(format!("bpe-counts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("corpus.txt");
        std::fs::write(&path, &text).unwrap();
        let progress = Progress::default();
        let streamed = Counter::new(&pre, Utf8Policy::Replace, &progress);
        streamed.add_file(&path).unwrap();
        let streamed = streamed.finish();
        let mut whole: FxHashMap<&str, u64> = FxHashMap::default();
        pre.split(&text, |p| *whole.entry(p).or_insert(0) += 1).unwrap();
        let mut expected: Vec<(Vec<u8>, u64)> = whole.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect();
        expected.sort();
        assert_eq!(streamed.words, expected);
        assert_eq!(streamed.bytes, text.len() as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn strict_utf8_names_the_offset() {
        let pre = Pretokenizer::new("gpt2").unwrap();
        let dir = std::env::temp_dir().join(format!("bpe-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.txt");
        std::fs::write(&path, b"hello \xff world").unwrap();
        let progress = Progress::default();
        let strict = Counter::new(&pre, Utf8Policy::Strict, &progress);
        let err = strict.add_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.txt") && err.contains("offset 6"), "{err}");
        let lenient = Counter::new(&pre, Utf8Policy::Replace, &progress);
        lenient.add_file(&path).unwrap();
        assert_eq!(lenient.replaced.load(std::sync::atomic::Ordering::Relaxed), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn counts_files_round_trip_and_reject_damage() {
        let c = WordCounts { words: vec![(b" the".to_vec(), 7), (b"cat".to_vec(), 2)], bytes: 30, replaced: 4 };
        let data = c.to_file_bytes("gpt2");
        let (back, pattern) = WordCounts::from_file_bytes(&data, "x.counts").unwrap();
        assert_eq!((back, pattern.as_str()), (c, "gpt2"));
        let err = WordCounts::from_file_bytes(&data[..data.len() - 3], "x.counts").unwrap_err().to_string();
        assert!(err.contains("x.counts") && err.contains("truncated"), "{err}");
        assert!(WordCounts::from_file_bytes(b"hello\n", "x.counts").is_err());
    }

    #[test]
    fn merging_counts_adds_them() {
        let a = WordCounts { words: vec![(b"a".to_vec(), 1), (b"c".to_vec(), 2)], bytes: 3, replaced: 1 };
        let b = WordCounts { words: vec![(b"b".to_vec(), 5), (b"c".to_vec(), 1)], bytes: 7, replaced: 2 };
        let m = a.merge(b).unwrap();
        assert_eq!(m.words, vec![(b"a".to_vec(), 1), (b"b".to_vec(), 5), (b"c".to_vec(), 3)]);
        assert_eq!((m.bytes, m.replaced), (10, 3));
    }

    #[test]
    fn counts_past_what_training_takes_are_errors() {
        let big = |c: u64| WordCounts { words: vec![(b"ab".to_vec(), c)], bytes: 2, replaced: 0 };
        let err = big(1 << 62).merge(big(1 << 62)).unwrap_err().to_string();
        assert!(err.contains("\"ab\"") && err.contains("2^63"), "{err}");
        assert!(big(u64::MAX).merge(big(1)).is_err());
        assert_eq!(big(1 << 62).merge(big((1 << 62) - 1)).unwrap().words[0].1, MAX_COUNT);
        let err = WordCounts::from_file_bytes(&big(MAX_COUNT + 1).to_file_bytes("gpt2"), "x.counts").unwrap_err().to_string();
        assert!(err.contains("x.counts") && err.contains("word 0"), "{err}");
    }
}
