//! The merge loop: from word counts to an ordered list of merges.
//!
//! Words live in one flat arena of symbols, u16 when the vocabulary fits in 65,536 ids and u32
//! otherwise (each word's length shrinks in place as merges apply); one hash map holds each live pair's i64 count and the words holding it (a few inline,
//! more on the heap; dropped when no word holds the pair any more); a max-heap with lazy
//! invalidation picks the next pair.
//!
//! The rule, so that the same counts give the same merges on any machine and thread count:
//! the pair with the highest count is merged next; among equal counts, the pair with the smallest
//! (left id, right id). A pair whose two tokens spell a byte string that is already a token is
//! never merged (it would give two ids the same bytes). Within a word, occurrences are merged
//! left to right (`a a a` with the pair `a a` becomes `aa a`).

use crate::counts::WordCounts;
use crate::error::{Error, Result};
use crate::vocab::pair_key;
use crate::Progress;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The result of training: merges in order and, for each, the bytes of the new token.
pub struct Trained {
    pub merges: Vec<(u32, u32)>,
    /// The words (two bytes or more) as the merges left them, with their counts.
    words: Words,
    /// How often words of one byte occur (one token each, whatever the merges).
    single_bytes: u64,
}

enum Words {
    Narrow(Arena<u16>),
    Wide(Arena<u32>),
}

impl Trained {
    /// The number of tokens the counted words encode to: each final word, spelled out through
    /// `token_bytes`, is given to `encode` (which appends its ids), times its count; words of one
    /// byte count one each. So the counts need not be kept to count the corpus's tokens.
    pub fn corpus_tokens(&self, token_bytes: &[Vec<u8>], encode: impl Fn(&[u8], &mut Vec<u32>) + Sync) -> u64 {
        fn sum<S: Symbol>(a: &Arena<S>, token_bytes: &[Vec<u8>], encode: &(impl Fn(&[u8], &mut Vec<u32>) + Sync)) -> u64 {
            (0..a.len.len())
                .into_par_iter()
                .map_init(
                    || (Vec::new(), Vec::new()),
                    |(bytes, ids), w| {
                        bytes.clear();
                        for &s in a.word(w) {
                            bytes.extend_from_slice(&token_bytes[s.id() as usize]);
                        }
                        ids.clear();
                        encode(bytes, ids);
                        ids.len() as u64 * a.count[w] as u64
                    },
                )
                .sum()
        }
        self.single_bytes
            + match &self.words {
                Words::Narrow(a) => sum(a, token_bytes, &encode),
                Words::Wide(a) => sum(a, token_bytes, &encode),
            }
    }
}

/// An arena symbol: a token id, in as few bytes as the vocabulary allows.
trait Symbol: Copy + Eq + Send + Sync + 'static {
    fn new(id: u32) -> Self;
    fn id(self) -> u32;
}

impl Symbol for u16 {
    #[inline(always)]
    fn new(id: u32) -> Self {
        id as u16
    }
    #[inline(always)]
    fn id(self) -> u32 {
        self as u32
    }
}

impl Symbol for u32 {
    #[inline(always)]
    fn new(id: u32) -> Self {
        id
    }
    #[inline(always)]
    fn id(self) -> u32 {
        self
    }
}

struct Arena<S> {
    symbols: Vec<S>,
    start: Vec<usize>,
    len: Vec<u32>,
    count: Vec<i64>,
}

impl<S: Symbol> Arena<S> {
    fn word(&self, w: usize) -> &[S] {
        &self.symbols[self.start[w]..self.start[w] + self.len[w] as usize]
    }
}

/// Learn up to `n_merges` merges from `counts`. Stops early when no pair is left to merge.
pub fn train(counts: &WordCounts, n_merges: usize, progress: &Progress) -> Result<Trained> {
    let single = single_bytes(counts);
    if narrow(n_merges) {
        merge_loop(Arena::<u16>::new(counts)?, single, n_merges, progress, Words::Narrow)
    } else {
        merge_loop(Arena::<u32>::new(counts)?, single, n_merges, progress, Words::Wide)
    }
}

/// `train`, freeing the counts as soon as the words are in the arena (the caller has no further
/// use for them), so their memory serves the merge loop.
pub fn train_owned(counts: WordCounts, n_merges: usize, progress: &Progress) -> Result<Trained> {
    fn run<S: Symbol>(counts: WordCounts, n_merges: usize, progress: &Progress, wrap: fn(Arena<S>) -> Words) -> Result<Trained> {
        let (arena, single) = (Arena::<S>::new(&counts)?, single_bytes(&counts));
        drop(counts);
        crate::release_free_memory();
        merge_loop(arena, single, n_merges, progress, wrap)
    }
    if narrow(n_merges) {
        run::<u16>(counts, n_merges, progress, Words::Narrow)
    } else {
        run::<u32>(counts, n_merges, progress, Words::Wide)
    }
}

/// Whether every id training can make (the 256 bytes and the merges) fits in a u16.
fn narrow(n_merges: usize) -> bool {
    256 + n_merges <= 1 << 16
}

fn single_bytes(counts: &WordCounts) -> u64 {
    counts.words.iter().filter(|(w, _)| w.len() == 1).map(|(_, c)| c).sum()
}

impl<S: Symbol> Arena<S> {
    /// The words of two or more bytes (a word of one byte holds no pair).
    fn new(counts: &WordCounts) -> Result<Arena<S>> {
        let long = || counts.words.iter().filter(|(w, _)| w.len() >= 2);
        let n = long().count();
        let mut arena = Arena {
            symbols: Vec::with_capacity(long().map(|(w, _)| w.len()).sum()),
            start: Vec::with_capacity(n),
            len: Vec::with_capacity(n),
            count: Vec::with_capacity(n),
        };
        for (word, c) in long() {
            arena.start.push(arena.symbols.len());
            arena.symbols.extend(word.iter().map(|&b| S::new(b as u32)));
            arena.len.push(word.len() as u32);
            arena.count.push(i64::try_from(*c).map_err(|_| Error::Value("a word count exceeds 2^63".into()))?);
        }
        Ok(arena)
    }
}

fn merge_loop<S: Symbol>(
    mut arena: Arena<S>,
    single_bytes: u64,
    n_merges: usize,
    progress: &Progress,
    wrap: fn(Arena<S>) -> Words,
) -> Result<Trained> {
    let n_words = arena.len.len();

    // Pair counts and the pair -> words index, in one pass over the words: it takes a fraction of
    // a second even at a GB of text, where a map per range of words (to count in parallel) held
    // most pairs several times over and was the peak of the whole training. The pair map is
    // sized once for about as many live pairs as there are words (what merging a large corpus
    // reaches): growing it later would hold the old and the new table at once.
    let mut pairs: FxHashMap<u64, Pair> = FxHashMap::with_capacity_and_hasher(n_words, Default::default());
    for w in 0..n_words {
        let c = arena.count[w];
        for p in arena.word(w).windows(2) {
            let e = pairs.entry(pair_key(p[0].id(), p[1].id())).or_insert(Pair { count: 0, words: WordList::Few(0, [0; 3]) });
            e.count += c;
            e.words.push(w as u32);
        }
    }
    for p in pairs.values_mut() {
        if let WordList::Many(v) = &mut p.words {
            v.shrink_to_fit(); // no growth slack kept through the merge loop
        }
    }

    // Max-heap on (count, smallest pair): Reverse(key) makes the smaller key win ties.
    let mut heap: BinaryHeap<(i64, Reverse<u64>)> =
        pairs.iter().filter(|(_, p)| p.count > 0).map(|(&k, p)| (p.count, Reverse(k))).collect();

    let mut token_bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut known: FxHashSet<Vec<u8>> = token_bytes.iter().cloned().collect();
    let mut merges = Vec::with_capacity(n_merges);
    let mut delta: FxHashMap<u64, i64> = FxHashMap::default();

    while merges.len() < n_merges {
        let Some((c, Reverse(key))) = heap.pop() else { break };
        let current = pairs.get(&key).map_or(0, |p| p.count);
        if current != c {
            if current > 0 {
                heap.push((current, Reverse(key)));
            }
            continue;
        }
        if c <= 0 {
            break;
        }
        let (a, b) = ((key >> 32) as u32, key as u32);
        let mut bytes = token_bytes[a as usize].clone();
        bytes.extend_from_slice(&token_bytes[b as usize]);
        if known.contains(&bytes) {
            pairs.remove(&key);
            continue;
        }
        let t = token_bytes.len() as u32;
        known.insert(bytes.clone());
        token_bytes.push(bytes);
        merges.push((a, b));

        // Apply the merge in every word that holds the pair, recording count changes next to each
        // merge site, and indexing the words under the new pairs.
        let mut words = pairs.remove(&key).map(|p| p.words.into_vec()).unwrap_or_default();
        words.sort_unstable();
        words.dedup();
        delta.clear();
        let (sa, sb, st) = (S::new(a), S::new(b), S::new(t));
        for &w in &words {
            let w = w as usize;
            let (s0, n) = (arena.start[w], arena.len[w] as usize);
            let cw = arena.count[w];
            let sym = &mut arena.symbols[s0..s0 + n];
            let (mut r, mut o) = (0usize, 0usize);
            let mut touched = false;
            while r < n {
                if r + 1 < n && sym[r] == sa && sym[r + 1] == sb {
                    if o > 0 {
                        let p = sym[o - 1].id();
                        *delta.entry(pair_key(p, a)).or_insert(0) -= cw;
                        *delta.entry(pair_key(p, t)).or_insert(0) += cw;
                        push_word(&mut pairs, pair_key(p, t), w as u32);
                    }
                    if r + 2 < n {
                        let nx = sym[r + 2].id();
                        *delta.entry(pair_key(b, nx)).or_insert(0) -= cw;
                        *delta.entry(pair_key(t, nx)).or_insert(0) += cw;
                        push_word(&mut pairs, pair_key(t, nx), w as u32);
                    }
                    sym[o] = st;
                    o += 1;
                    r += 2;
                    touched = true;
                } else {
                    sym[o] = sym[r];
                    o += 1;
                    r += 1;
                }
            }
            if touched {
                arena.len[w] = o as u32;
            }
        }
        for (&k, &d) in delta.iter() {
            if d == 0 {
                continue;
            }
            let entry = pairs.entry(k).or_insert(Pair { count: 0, words: WordList::Few(0, [0; 3]) });
            entry.count += d;
            let now = entry.count;
            if now <= 0 {
                // No word holds the pair any more: drop its count and its list of words.
                pairs.remove(&k);
            } else if d > 0 {
                heap.push((now, Reverse(k)));
            }
        }
        progress.add(1);
        if merges.len() % 64 == 0 && progress.cancelled() {
            return Err(Error::Interrupted);
        }
    }
    Ok(Trained { merges, words: wrap(arena), single_bytes })
}

#[inline]
fn push_word(pairs: &mut FxHashMap<u64, Pair>, key: u64, w: u32) {
    pairs.entry(key).or_insert(Pair { count: 0, words: WordList::Few(0, [0; 3]) }).words.push(w);
}

/// A pair's count and the words that hold it (a word may stay listed after it no longer does).
struct Pair {
    count: i64,
    words: WordList,
}

/// Word ids in the order added, each once in a row: up to three inline, more on the heap. Most
/// pairs made during training are held by a handful of words, so this saves an allocation for
/// each of them (at a GB of text, hundreds of thousands). The list of many is boxed so that a
/// pair's entry in the map is 32 bytes, not 40 (8 MB of the map at a GB of text).
#[allow(clippy::box_collection)] // the box is the point: a thin pointer keeps the entry small
enum WordList {
    Few(u8, [u32; 3]),
    Many(Box<Vec<u32>>),
}

impl WordList {
    #[inline]
    fn push(&mut self, w: u32) {
        match self {
            WordList::Few(n, ids) => {
                let n_ = *n as usize;
                if n_ > 0 && ids[n_ - 1] == w {
                    return;
                }
                if n_ < 3 {
                    ids[n_] = w;
                    *n += 1;
                } else {
                    let mut v = Vec::with_capacity(8);
                    v.extend_from_slice(ids);
                    v.push(w);
                    *self = WordList::Many(Box::new(v));
                }
            }
            WordList::Many(v) => {
                if v.last() != Some(&w) {
                    v.push(w);
                }
            }
        }
    }

    fn into_vec(self) -> Vec<u32> {
        match self {
            WordList::Few(n, ids) => ids[..n as usize].to_vec(),
            WordList::Many(v) => *v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_and_wide_arenas_merge_alike() {
        let c = counts(&[("hello world", 3), ("low lower lowest", 2), ("aaaaaaa", 5), ("zz\u{e9}\u{e9}", 4)]);
        let p = Progress::default();
        let narrow = train(&c, 200, &p).unwrap(); // 256 + 200 ids fit in u16
        let wide = train(&c, 70_000, &p).unwrap(); // too many for u16; both run out of pairs first
        assert!(matches!(narrow.words, Words::Narrow(_)) && matches!(wide.words, Words::Wide(_)));
        assert!(!narrow.merges.is_empty());
        assert_eq!(narrow.merges, wide.merges);
        // Both arenas end with the same words: spelled out, each byte counts once.
        let mut bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for &(a, b) in &narrow.merges {
            bytes.push([bytes[a as usize].clone(), bytes[b as usize].clone()].concat());
        }
        let per_byte = |b: &[u8], ids: &mut Vec<u32>| ids.extend(b.iter().map(|&x| x as u32));
        let n = narrow.corpus_tokens(&bytes, per_byte);
        assert_eq!(n, wide.corpus_tokens(&bytes, per_byte));
        assert_eq!(n, 3 * 11 + 2 * 16 + 5 * 7 + 4 * 6);
    }

    #[test]
    fn a_pair_map_entry_is_32_bytes() {
        // The pair map is the largest structure of the merge loop: keep its entries compact.
        assert_eq!(std::mem::size_of::<(u64, Pair)>(), 32);
    }

    fn counts(words: &[(&str, u64)]) -> WordCounts {
        let mut words: Vec<(Vec<u8>, u64)> = words.iter().map(|(w, c)| (w.as_bytes().to_vec(), *c)).collect();
        words.sort();
        WordCounts { words, bytes: 0, replaced: 0 }
    }

    /// Recount every pair at every step: slow and obviously right.
    fn naive(counts: &WordCounts, n: usize) -> Vec<(u32, u32)> {
        let mut words: Vec<(Vec<u32>, i64)> =
            counts.words.iter().map(|(w, c)| (w.iter().map(|&b| b as u32).collect(), *c as i64)).collect();
        let mut bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut merges = vec![];
        let mut banned = std::collections::HashSet::new();
        while merges.len() < n {
            let mut pc: std::collections::BTreeMap<(u32, u32), i64> = Default::default();
            for (w, c) in &words {
                for p in w.windows(2) {
                    *pc.entry((p[0], p[1])).or_insert(0) += c;
                }
            }
            let best = pc
                .iter()
                .filter(|(p, _)| !banned.contains(*p))
                .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)));
            let Some((&(a, b), _)) = best else { break };
            let mut nb = bytes[a as usize].clone();
            nb.extend_from_slice(&bytes[b as usize]);
            if bytes.contains(&nb) {
                banned.insert((a, b));
                continue;
            }
            let t = bytes.len() as u32;
            bytes.push(nb);
            merges.push((a, b));
            for (w, _) in words.iter_mut() {
                let mut out = vec![];
                let mut i = 0;
                while i < w.len() {
                    if i + 1 < w.len() && w[i] == a && w[i + 1] == b {
                        out.push(t);
                        i += 2;
                    } else {
                        out.push(w[i]);
                        i += 1;
                    }
                }
                *w = out;
            }
        }
        merges
    }

    #[test]
    fn classic_example() {
        // "aaabdaaabac": aa occurs 4 times → 256 (the word is now aa a b d aa a b a c); then
        // "a b" and "aa a" both occur twice, and (97, 98) < (256, 97) → 257 = ab; then aa+ab twice.
        let c = counts(&[("aaabdaaabac", 1)]);
        let got = train(&c, 3, &Progress::default()).unwrap().merges;
        assert_eq!(got, vec![(97, 97), (97, 98), (256, 257)]);
        assert_eq!(got, naive(&c, 3));
    }

    #[test]
    fn equals_naive_trainer() {
        let c = counts(&[
            ("hello", 5),
            (" world", 3),
            (" hello", 7),
            ("aaaaaa", 4),
            ("abababab", 2),
            ("  ", 9),
            ("\n\n\n", 3),
            ("中文中文", 2),
            ("😀😀", 3),
            ("x", 100),
        ]);
        for n in [1, 5, 20, 60, 200] {
            assert_eq!(train(&c, n, &Progress::default()).unwrap().merges, naive(&c, n), "n={n}");
        }
    }

    #[test]
    fn same_merges_at_any_thread_count() {
        let words: Vec<(String, u64)> = (0..5000u64).map(|i| (format!(" w{}x{}", i % 97, i % 13), 1 + i % 7)).collect();
        let c = counts(&words.iter().map(|(w, n)| (w.as_str(), *n)).collect::<Vec<_>>());
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let a = one.install(|| train(&c, 300, &Progress::default()).unwrap().merges);
        let b = two.install(|| train(&c, 300, &Progress::default()).unwrap().merges);
        assert_eq!(a, b);
        assert_eq!(a, naive(&c, 300));
    }
}
