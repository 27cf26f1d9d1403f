//! Merging from whole characters.
//!
//! In Chinese, Japanese or Cyrillic text most of a piece is characters of two or three bytes,
//! and the byte-level merge loop spends most of its merges putting each character back together
//! before any merge joins two of them: seven characters of Chinese take about sixteen merges, of
//! which two or three join characters. This table holds, for every character below U+10000
//! (and for a space followed by one, the usual start of a piece), what merging its bytes alone
//! gives, the highest rank that took, and which neighbours could disturb it. A piece whose
//! characters all allow it starts merging from those results and gives exactly the ids of the
//! byte-level loop; any other piece takes the byte-level loop.
//!
//! Why it is exact. Call a unit (a character, or a space and a character) "unfinished" until it
//! has made the last merge of its own chain, whose highest rank is R. While it is unfinished, a
//! merge across its edge would join its edge symbol x with the neighbour's first symbol y, into a
//! token that starts with x and goes on with the neighbour's first byte (or, on the left, ends
//! with x after the neighbour's last byte). The unit allows its neighbour when every such token
//! ranks above R: that merge then always loses to the unit's own next merge (ranked at most R),
//! so it never happens while the unit is unfinished, and the unit runs its chain exactly as
//! alone. What the rest of the piece sees of the unit is only the moment its result appears,
//! which is when its rank-R merge is the lowest available: the loop below treats "the unit
//! finishes" as one more candidate ranked R at the unit's place, beside the pairs of finished
//! symbols, and takes the lowest, leftmost on ties, one at a time, as the byte-level loop does.

use crate::vocab::Vocab;
use rustc_hash::FxHashMap;

/// The most symbols a piece may start with on this path; longer pieces take the byte loop.
const MAX_SYMBOLS: usize = 64;

/// What merging one unit's bytes alone gives.
#[derive(Clone, Copy, Debug, Default)]
struct Unit {
    ids: [u32; 4],
    n: u32,
    /// 1 + the highest rank among the unit's own merges.
    ready: u32,
    /// Bit `after_class(b)` set: an unfinished edge could merge with a right neighbour whose
    /// first byte is b.
    right: u64,
    /// Bit `before_class(b)` set: likewise with a left neighbour whose last byte is b.
    left: u64,
}

/// The unit table of one vocabulary.
#[derive(Clone, Debug)]
pub(crate) struct Units {
    /// Code point → index in `entries`; 0 where the character's bytes merge nothing alone.
    chars: Vec<u32>,
    /// The same for a space followed by the code point.
    spaced: Vec<u32>,
    entries: Vec<Unit>,
}

/// Classes of the first byte of a right neighbour (never a continuation byte): lead bytes
/// 0xC0..=0xFF one each, ASCII shares 13 classes (sharing only makes the test stricter).
#[inline(always)]
fn after_class(b: u8) -> u32 {
    if b >= 0xC0 {
        (b - 0xC0) as u32
    } else {
        51 + (b % 13) as u32
    }
}

/// Classes of the last byte of a left neighbour (never a lead byte).
#[inline(always)]
fn before_class(b: u8) -> u32 {
    (b & 63) as u32
}

fn is_continuation(b: u8) -> bool {
    (0x80..0xC0).contains(&b)
}

/// One unit's chain: the byte-level loop on `bytes` alone, recording the left and right edge
/// symbol of every state but the last. None when nothing merges.
struct Chain {
    ids: Vec<u32>,
    top: u32,
    lefts: Vec<u32>,
    rights: Vec<u32>,
}

fn chain(v: &Vocab, bytes: &[u8]) -> Option<Chain> {
    let mut parts: Vec<u32> = bytes.iter().map(|&b| v.byte_ids[b as usize]).collect();
    let (mut lefts, mut rights, mut top) = (Vec::new(), Vec::new(), None::<u32>);
    loop {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            if let Some(r) = v.pair_id(parts[i], parts[i + 1]) {
                if best.is_none_or(|(b, _)| r < b) {
                    best = Some((r, i));
                }
            }
        }
        let Some((r, at)) = best else { break };
        lefts.push(parts[0]);
        rights.push(*parts.last().expect("parts are never empty"));
        parts[at] = r;
        parts.remove(at + 1);
        top = Some(top.map_or(r, |t| t.max(r)));
    }
    Some(Chain {
        ids: parts,
        top: top?,
        lefts,
        rights,
    })
}

/// Starting from units pays where many characters are whole tokens, so that a unit saves
/// several merges: o200k has 2,515 of the CJK ideographs as tokens and cl100k 549, and both
/// merge Chinese pieces about 1.6x to 1.9x faster this way (measured); GPT-2 has 36, and its
/// byte loop is faster there. Below this many, the table is not built.
const MIN_WHOLE_IDEOGRAPHS: usize = 256;

impl Units {
    /// The table, or None for a vocabulary it would not speed up.
    pub(crate) fn new(v: &Vocab) -> Option<Units> {
        let whole = (0x4E00..=0x9FFFu32)
            .filter_map(char::from_u32)
            .filter(|c| v.token_id(c.encode_utf8(&mut [0; 4]).as_bytes()).is_some())
            .count();
        if whole < MIN_WHOLE_IDEOGRAPHS {
            return None;
        }
        Some(Units::build(v))
    }

    fn build(v: &Vocab) -> Units {
        // The chains of every character and of every space + character (in parallel: this is
        // most of the table's cost, about a tenth of a second for o200k on one core).
        use rayon::prelude::*;
        let found: Vec<(u32, bool, Chain)> = (0x80..0x10000u32)
            .into_par_iter()
            .filter_map(char::from_u32)
            .flat_map_iter(|c| {
                let mut buf = [b' '; 5];
                let n = c.encode_utf8(&mut buf[1..]).len();
                let alone = chain(v, &buf[1..1 + n]).map(|ch| (c as u32, false, ch));
                let spaced = chain(v, &buf[..1 + n]).map(|ch| (c as u32, true, ch));
                alone.into_iter().chain(spaced)
            })
            .collect();
        let mut chars = vec![0u32; 0x10000];
        let mut spaced = vec![0u32; 0x10000];
        for (i, (cp, is_spaced, _)) in found.iter().enumerate() {
            let table = if *is_spaced { &mut spaced } else { &mut chars };
            table[*cp as usize] = i as u32 + 1;
        }
        let chains: Vec<Chain> = found.into_iter().map(|f| f.2).collect();
        // For every edge symbol, the lowest rank of a token that starts with it and goes on with
        // a byte of each class (right edges), or ends with it after such a byte (left edges).
        let n_tokens = v.tokens.len();
        let mut is_right = vec![false; n_tokens];
        let mut is_left = vec![false; n_tokens];
        for ch in &chains {
            ch.rights.iter().for_each(|&x| is_right[x as usize] = true);
            ch.lefts.iter().for_each(|&x| is_left[x as usize] = true);
        }
        let mut right_min: FxHashMap<u32, [u32; 64]> = FxHashMap::default();
        let mut left_min: FxHashMap<u32, [u32; 64]> = FxHashMap::default();
        for (id, t) in v.tokens.iter().enumerate() {
            let id = id as u32;
            // Edge symbols are parts of unfinished units of at most 4 bytes: 3 bytes at most.
            for k in 1..t.len() {
                if k <= 3 && !is_continuation(t[k]) {
                    if let Some(x) = v.token_id(&t[..k]).filter(|&x| is_right[x as usize]) {
                        let m = &mut right_min.entry(x).or_insert([u32::MAX; 64])
                            [after_class(t[k]) as usize];
                        *m = (*m).min(id);
                    }
                }
                if t.len() - k <= 3 && t[k - 1] < 0xC0 {
                    if let Some(z) = v.token_id(&t[k..]).filter(|&z| is_left[z as usize]) {
                        let m = &mut left_min.entry(z).or_insert([u32::MAX; 64])
                            [before_class(t[k - 1]) as usize];
                        *m = (*m).min(id);
                    }
                }
            }
        }
        // Each edge's classes in order of their lowest rank, so a unit's mask takes a prefix.
        let sorted = |mins: FxHashMap<u32, [u32; 64]>| -> FxHashMap<u32, Vec<(u32, u32)>> {
            mins.into_iter()
                .map(|(x, m)| {
                    let mut l: Vec<(u32, u32)> = (0..64)
                        .filter(|&c| m[c as usize] != u32::MAX)
                        .map(|c| (m[c as usize], c))
                        .collect();
                    l.sort_unstable();
                    (x, l)
                })
                .collect()
        };
        let (right_min, left_min) = (sorted(right_min), sorted(left_min));
        let mask = |edges: &[u32], mins: &FxHashMap<u32, Vec<(u32, u32)>>, top: u32| {
            let mut bits = 0u64;
            for x in edges {
                for &(_, class) in mins
                    .get(x)
                    .map_or(&[][..], |l| &l[..])
                    .iter()
                    .take_while(|e| e.0 <= top)
                {
                    bits |= 1 << class;
                }
            }
            bits
        };
        let mut entries = vec![Unit::default()];
        for ch in &chains {
            let mut ids = [0u32; 4];
            ids[..ch.ids.len()].copy_from_slice(&ch.ids);
            entries.push(Unit {
                ids,
                n: ch.ids.len() as u32,
                ready: ch.top.saturating_add(1),
                right: mask(&ch.rights, &right_min, ch.top),
                left: mask(&ch.lefts, &left_min, ch.top),
            });
        }
        Units {
            chars,
            spaced,
            entries,
        }
    }

    /// Merge `piece` (UTF-8 with some non-ASCII character) starting from its units, appending
    /// the ids to `out`; false, with `out` untouched, when some unit does not allow its
    /// neighbour (or the piece has a character above U+FFFF, or is too long), and the caller
    /// merges bytes instead.
    pub(crate) fn merge(&self, v: &Vocab, piece: &[u8], out: &mut Vec<u32>) -> bool {
        let mut syms = [0u32; MAX_SYMBOLS];
        // Whether each symbol is finished (unfinished ones belong to a unit still merging).
        let mut done = [true; MAX_SYMBOLS];
        // Unfinished units: (1 + the rank at which it finishes, first symbol, symbol count).
        let mut late: [(u32, u32, u32); MAX_SYMBOLS] = [(0, 0, 0); MAX_SYMBOLS];
        let (mut n, mut n_late) = (0, 0);
        let mut i = 0;
        let (mut prev_last, mut prev_right) = (0u8, 0u64);
        while i < piece.len() {
            let b = piece[i];
            let decode = |at: usize| -> Option<(u32, usize)> {
                let b = *piece.get(at)?;
                let cont = |k: usize| {
                    piece
                        .get(at + k)
                        .filter(|&&c| is_continuation(c))
                        .map(|&c| (c & 0x3F) as u32)
                };
                match b {
                    0xC0..=0xDF => Some(((b as u32 & 0x1F) << 6 | cont(1)?, 2)),
                    0xE0..=0xEF => Some(((b as u32 & 0x0F) << 12 | cont(1)? << 6 | cont(2)?, 3)),
                    _ => None,
                }
            };
            let (entry, len) = if b < 0x80 {
                match (i == 0 && b == b' ').then(|| decode(1)).flatten() {
                    Some((cp, k)) if self.spaced[cp as usize] != 0 => (self.spaced[cp as usize], 1 + k),
                    _ => (0, 1),
                }
            } else {
                match decode(i) {
                    Some((cp, k)) => (self.chars[cp as usize], k),
                    None => return false,
                }
            };
            if i > 0 && prev_right >> after_class(b) & 1 != 0 {
                return false;
            }
            if entry == 0 {
                // Bytes that merge nothing alone: finished from the start.
                if n + len > MAX_SYMBOLS {
                    return false;
                }
                for &x in &piece[i..i + len] {
                    syms[n] = v.byte_ids[x as usize];
                    n += 1;
                }
                prev_right = 0;
            } else {
                let u = &self.entries[entry as usize];
                if i > 0 && u.left >> before_class(prev_last) & 1 != 0 {
                    return false;
                }
                let k = u.n as usize;
                if n + k > MAX_SYMBOLS {
                    return false;
                }
                syms[n..n + k].copy_from_slice(&u.ids[..k]);
                done[n..n + k].fill(false);
                late[n_late] = (u.ready, n as u32, k as u32);
                n_late += 1;
                n += k;
                prev_right = u.right;
            }
            prev_last = piece[i + len - 1];
            i += len;
        }
        if n_late == 0 {
            return false; // nothing to gain over the byte loop
        }
        // ranks[j]: the pair (j, j + 1) merges into this id; keys[j]: the same once both are
        // finished, else MAX, so the loop takes the lowest key.
        let mut ranks = [u32::MAX; MAX_SYMBOLS];
        let mut keys = [u32::MAX; MAX_SYMBOLS];
        for j in 0..n - 1 {
            ranks[j] = v.pair_id(syms[j], syms[j + 1]).unwrap_or(u32::MAX);
            if done[j] && done[j + 1] {
                keys[j] = ranks[j];
            }
        }
        let late = &mut late[..n_late];
        late.sort_unstable();
        let mut next_late = 0;
        loop {
            let (mut best, mut at) = (u32::MAX, usize::MAX);
            for (j, &k) in keys[..n].iter().enumerate() {
                if k < best {
                    (best, at) = (k, j);
                }
            }
            // Units that finish before that pair (or at its rank further left) finish first, in
            // order; each may free pairs that rank lower still.
            while let Some(&(ready, first, count)) = late.get(next_late) {
                let (r, first, count) = (ready - 1, first as usize, count as usize);
                if r > best || (r == best && first > at) {
                    break;
                }
                next_late += 1;
                done[first..first + count].fill(true);
                for j in first.saturating_sub(1)..(first + count).min(n - 1) {
                    if done[j] && done[j + 1] && ranks[j] != u32::MAX {
                        keys[j] = ranks[j];
                        if ranks[j] < best || (ranks[j] == best && j < at) {
                            (best, at) = (ranks[j], j);
                        }
                    }
                }
            }
            if at == usize::MAX {
                break;
            }
            syms[at] = best;
            syms.copy_within(at + 2..n, at + 1);
            done.copy_within(at + 2..n, at + 1);
            ranks.copy_within(at + 2..n, at + 1);
            keys.copy_within(at + 2..n, at + 1);
            n -= 1;
            for u in late[next_late..].iter_mut() {
                if u.1 as usize > at {
                    u.1 -= 1;
                }
            }
            ranks[at] = if at + 1 < n {
                v.pair_id(best, syms[at + 1]).unwrap_or(u32::MAX)
            } else {
                u32::MAX
            };
            keys[at] = if at + 1 < n && done[at + 1] {
                ranks[at]
            } else {
                u32::MAX
            };
            if at > 0 {
                ranks[at - 1] = v.pair_id(syms[at - 1], best).unwrap_or(u32::MAX);
                keys[at - 1] = if done[at - 1] {
                    ranks[at - 1]
                } else {
                    u32::MAX
                };
            }
        }
        out.extend_from_slice(&syms[..n]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A vocabulary learned by merging, again and again, a pair of neighbours picked at random
    /// in a sample: unlike a trained one it is full of tokens across characters and of parts of
    /// characters, in every order of ranks, which is what the units' tests have to get right.
    fn random_vocab(rng: &mut Rng, alphabet: &[char], merges: usize) -> Vocab {
        let sample: String = (0..3000)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let mut ids: Vec<u32> = sample.bytes().map(|b| b as u32).collect();
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut known: FxHashMap<Vec<u8>, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut list = Vec::new();
        while list.len() < merges && ids.len() > 1 {
            let at = rng.below(ids.len() - 1);
            let (l, r) = (ids[at], ids[at + 1]);
            let bytes = [tokens[l as usize].clone(), tokens[r as usize].clone()].concat();
            if known.contains_key(&bytes) {
                continue;
            }
            let id = tokens.len() as u32;
            known.insert(bytes.clone(), id);
            tokens.push(bytes);
            list.push((l, r));
            ids = crate::train::tests::merge_all(&ids, l, r, id);
        }
        let v = Vocab::from_merges(&crate::vocab::IDENTITY, &list, vec![], "random").unwrap();
        if rng.below(2) == 0 {
            return v;
        }
        // Ranks in any order, as a tiktoken file may give them: a token can then rank below its
        // parts, and a unit can finish after pairs beside it that rank lower.
        let mut tokens = v.tokens.clone();
        for i in (257..tokens.len()).rev() {
            let j = 256 + rng.below(i - 255);
            tokens.swap(i, j);
        }
        Vocab::new(tokens, vec![], "shuffled").unwrap()
    }

    #[test]
    fn starting_from_units_gives_the_byte_loops_ids() {
        let alphabet: Vec<char> = "天下大势分久必合中文的人 ，。abЖжé─│".chars().collect();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let (mut taken, mut total) = (0, 0);
        // 60 vocabularies of 1,000 pieces each; a deep run sets BPE_RUST_CASES (pieces in all).
        let cases: usize = std::env::var("BPE_RUST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(60_000);
        for round in 0..cases.div_ceil(1000) {
            let v = random_vocab(&mut rng, &alphabet, 50 + round % 60 * 10);
            let units = Units::build(&v);
            for _ in 0..1000 {
                let len = 1 + rng.below(30);
                let piece: String = (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect();
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                v.merge_piece(piece.as_bytes(), &mut slow, u32::MAX - 1); // bytes only
                total += 1;
                if units.merge(&v, piece.as_bytes(), &mut fast) {
                    taken += 1;
                    assert_eq!(fast, slow, "round {round}, piece {piece:?}");
                } else {
                    assert!(fast.is_empty(), "a refused piece leaves the output alone");
                }
            }
        }
        // The test means something only if many pieces take the path.
        assert!(
            taken * 10 > total,
            "only {taken} of {total} pieces started from units"
        );
    }

    #[test]
    fn pieces_it_cannot_take_are_refused() {
        let v = random_vocab(&mut Rng(99), &"中文字 ".chars().collect::<Vec<_>>(), 40);
        let units = Units::build(&v);
        let mut out = Vec::new();
        assert!(
            !units.merge(&v, "中😀文".as_bytes(), &mut out),
            "characters above U+FFFF take the byte loop"
        );
        assert!(
            !units.merge(&v, b"\xe4\xb8", &mut out),
            "a cut character is not decoded"
        );
        assert!(!units.merge(&v, &"中".repeat(MAX_SYMBOLS + 1).into_bytes(), &mut out));
        assert!(out.is_empty());
    }
}
