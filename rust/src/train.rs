//! The merge loop: from word counts to an ordered list of merges.
//!
//! Words live in one flat arena of u32 symbols (each word's length shrinks in place as merges
//! apply); pair counts are i64 in a hash map; an index maps each pair to the words holding it; a
//! max-heap with lazy invalidation picks the next pair.
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
}

struct Arena {
    symbols: Vec<u32>,
    start: Vec<usize>,
    len: Vec<u32>,
    count: Vec<i64>,
}

impl Arena {
    fn word(&self, w: usize) -> &[u32] {
        &self.symbols[self.start[w]..self.start[w] + self.len[w] as usize]
    }
}

/// Learn up to `n_merges` merges from `counts`. Stops early when no pair is left to merge.
pub fn train(counts: &WordCounts, n_merges: usize, progress: &Progress) -> Result<Trained> {
    // Words of one byte hold no pair; leave them out.
    let mut arena = Arena { symbols: Vec::new(), start: Vec::new(), len: Vec::new(), count: Vec::new() };
    for (word, c) in &counts.words {
        if word.len() < 2 {
            continue;
        }
        arena.start.push(arena.symbols.len());
        arena.symbols.extend(word.iter().map(|&b| b as u32));
        arena.len.push(word.len() as u32);
        arena.count.push(i64::try_from(*c).map_err(|_| Error::Value("a word count exceeds 2^63".into()))?);
    }
    let n_words = arena.len.len();

    // Initial pair counts and the pair → words index, built in parallel over ranges of words.
    let chunk = n_words.div_ceil(rayon::current_num_threads().max(1) * 4).max(1024);
    let partials: Vec<(FxHashMap<u64, i64>, FxHashMap<u64, Vec<u32>>)> = (0..n_words)
        .into_par_iter()
        .chunks(chunk)
        .map(|ws| {
            let mut counts: FxHashMap<u64, i64> = FxHashMap::default();
            let mut index: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
            for w in ws {
                let word = arena.word(w);
                for p in word.windows(2) {
                    let key = pair_key(p[0], p[1]);
                    *counts.entry(key).or_insert(0) += arena.count[w];
                    let list = index.entry(key).or_default();
                    if list.last() != Some(&(w as u32)) {
                        list.push(w as u32);
                    }
                }
            }
            (counts, index)
        })
        .collect();
    let mut pair_counts: FxHashMap<u64, i64> = FxHashMap::default();
    let mut index: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
    for (c, i) in partials {
        for (k, v) in c {
            *pair_counts.entry(k).or_insert(0) += v;
        }
        for (k, mut v) in i {
            index.entry(k).or_default().append(&mut v);
        }
    }

    // Max-heap on (count, smallest pair): Reverse(key) makes the smaller key win ties.
    let mut heap: BinaryHeap<(i64, Reverse<u64>)> =
        pair_counts.iter().filter(|(_, &c)| c > 0).map(|(&k, &c)| (c, Reverse(k))).collect();

    let mut token_bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut known: FxHashSet<Vec<u8>> = token_bytes.iter().cloned().collect();
    let mut merges = Vec::with_capacity(n_merges);
    let mut delta: FxHashMap<u64, i64> = FxHashMap::default();

    while merges.len() < n_merges {
        let Some((c, Reverse(key))) = heap.pop() else { break };
        let current = pair_counts.get(&key).copied().unwrap_or(0);
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
            pair_counts.remove(&key);
            index.remove(&key);
            continue;
        }
        let t = token_bytes.len() as u32;
        known.insert(bytes.clone());
        token_bytes.push(bytes);
        merges.push((a, b));

        // Apply the merge in every word that holds the pair, recording count changes next to each
        // merge site, and indexing the words under the new pairs.
        let mut words = index.remove(&key).unwrap_or_default();
        words.sort_unstable();
        words.dedup();
        delta.clear();
        for &w in &words {
            let w = w as usize;
            let (s0, n) = (arena.start[w], arena.len[w] as usize);
            let cw = arena.count[w];
            let sym = &mut arena.symbols[s0..s0 + n];
            let (mut r, mut o) = (0usize, 0usize);
            let mut touched = false;
            while r < n {
                if r + 1 < n && sym[r] == a && sym[r + 1] == b {
                    if o > 0 {
                        let p = sym[o - 1];
                        *delta.entry(pair_key(p, a)).or_insert(0) -= cw;
                        *delta.entry(pair_key(p, t)).or_insert(0) += cw;
                        push_word(&mut index, pair_key(p, t), w as u32);
                    }
                    if r + 2 < n {
                        let nx = sym[r + 2];
                        *delta.entry(pair_key(b, nx)).or_insert(0) -= cw;
                        *delta.entry(pair_key(t, nx)).or_insert(0) += cw;
                        push_word(&mut index, pair_key(t, nx), w as u32);
                    }
                    sym[o] = t;
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
        pair_counts.remove(&key);
        for (&k, &d) in delta.iter() {
            if d == 0 {
                continue;
            }
            let entry = pair_counts.entry(k).or_insert(0);
            *entry += d;
            let now = *entry;
            if now <= 0 {
                pair_counts.remove(&k);
            } else if d > 0 {
                heap.push((now, Reverse(k)));
            }
        }
        progress.add(1);
        if merges.len() % 64 == 0 && progress.cancelled() {
            return Err(Error::Interrupted);
        }
    }
    Ok(Trained { merges })
}

#[inline]
fn push_word(index: &mut FxHashMap<u64, Vec<u32>>, key: u64, w: u32) {
    let list = index.entry(key).or_default();
    if list.last() != Some(&w) {
        list.push(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
