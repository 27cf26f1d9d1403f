//! Cutting a piece where no token can cross.
//!
//! Every symbol of the merge loop is a stretch of the piece that is a token, so where no token
//! of the vocabulary equals a stretch of the piece that starts before some point and ends after
//! it, no merge ever crosses that point. The two sides then merge independently (the loop's
//! next merge on either side is always that side's own lowest pair, leftmost on ties), and the
//! ids of the piece are the ids of the left side followed by those of the right side. This holds
//! whatever the order of ranks.
//!
//! Chinese is where this pays. A piece there is a run of ideographs up to the next punctuation,
//! rarely a token and rarely seen twice; but between most neighbouring ideographs no token
//! crosses, and cut there a piece falls into short stretches, nearly all of them tokens or seen
//! before. Measured on 1 MB of Chinese: o200k's 25,268 non-ASCII pieces that are not tokens cut
//! into 130,590 stretches, 90% of them tokens and the rest 2,298 distinct stretches; cl100k 81%
//! tokens; GPT-2, with few whole ideographs, 14%, but its stretches are nearly all single
//! characters of a few repeated kinds.
//!
//! The table answers, for two neighbouring characters c and d of a piece, whether some token
//! could cross between them. Such a token holds, around the point, either all of c or a part of
//! c that the token starts with, followed by either all of d or a part of d that the token ends
//! with. Every token is read once for every way it holds such a pair, and the pair's bytes go
//! into a set. The whole-character pairs answer nearly every question; the forms with a part of
//! a character are rare (o200k: 619 of 25,497), and are looked up only for characters flagged as
//! having one. Characters of four bytes are never cut beside (the flags cover U+0000..U+FFFF).

use crate::vocab::Vocab;

/// c (a whole character) starts a token that ends inside the character after it.
const WHOLE_PART: u8 = 1;
/// Some tail of c (its last bytes, not all of it) starts a token that crosses into the next
/// character.
const TAIL: u8 = 2;
/// d (whole) follows a tail of the character before it in some token.
const AFTER_TAIL: u8 = 4;
/// Some head of d (its first bytes, not all of it) ends a token that starts with a tail of the
/// character before.
const HEAD_AFTER_TAIL: u8 = 8;
/// c (whole) is followed by a whole character in some token, and d (whole) follows one: the
/// pair table is asked only where both hold (GPT-2 holds few ideographs in tokens of more than
/// one character, so nearly every cut in its Chinese is then settled by the flags alone).
const BEFORE_WHOLE: u8 = 16;
const AFTER_WHOLE: u8 = 32;

/// A character's bytes (1 to 4) packed in the low bytes of a u64 (never all ones).
#[inline(always)]
fn pack(b: &[u8]) -> u64 {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate() {
        v |= (x as u64) << (8 * i);
    }
    v
}

#[inline(always)]
fn key(left: &[u8], right: &[u8]) -> u64 {
    pack(left) | pack(right) << 32
}

fn is_continuation(b: u8) -> bool {
    (0x80..0xC0).contains(&b)
}

/// The length of the character a byte starts, as UTF-8 declares it; None for a continuation
/// byte or a byte that starts nothing.
fn declared_len(b: u8) -> Option<usize> {
    match b {
        0x00..=0x7F => Some(1),
        0xC0..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF7 => Some(4),
        _ => None,
    }
}

/// The code point of one whole character of 1 to 3 bytes (below U+10000).
fn code_point(c: &[u8]) -> Option<u32> {
    let low = |b: u8| (b & 0x3F) as u32;
    let (code, min) = match *c {
        [a] if a < 0x80 => return Some(a as u32),
        [a @ 0xC0..=0xDF, b] if is_continuation(b) => (((a & 0x1F) as u32) << 6 | low(b), 0x80),
        [a @ 0xE0..=0xEF, b, d] if is_continuation(b) && is_continuation(d) => {
            (((a & 0x0F) as u32) << 12 | low(b) << 6 | low(d), 0x800)
        }
        _ => return None,
    };
    // Not overlong, not a surrogate: a character valid UTF-8 can hold.
    (code >= min && !(0xD800..0xE000).contains(&code)).then_some(code)
}

/// A set of u64 keys (never `EMPTY`): open addressing, linear probing, at most half full.
#[derive(Clone, Debug)]
struct KeySet {
    slots: Vec<u64>,
    shift: u32,
}

const EMPTY: u64 = u64::MAX;

impl KeySet {
    fn new(keys: &rustc_hash::FxHashSet<u64>) -> KeySet {
        let cap = (keys.len() * 2 + 1).next_power_of_two().max(16);
        let mut s = KeySet { slots: vec![EMPTY; cap], shift: 64 - cap.trailing_zeros() };
        for &k in keys.iter() {
            let mut i = s.home(k);
            while s.slots[i] != EMPTY && s.slots[i] != k {
                i = (i + 1) & (cap - 1);
            }
            s.slots[i] = k;
        }
        s
    }

    #[inline(always)]
    fn home(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline(always)]
    fn contains(&self, k: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        loop {
            // SAFETY: i is masked to the table's length, a power of two.
            let s = unsafe { *self.slots.get_unchecked(i) };
            if s == k {
                return true;
            }
            if s == EMPTY {
                return false;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Pairs of whole characters below U+10000, as `c << 16 | d`: the question nearly every cut
/// asks. Lines of 16 keys, each filled from its start, a key in the first line from its home
/// with room, so a lookup reads one cache line (o200k: 136 KB, where the u64 set of every form
/// took 512 KB and a cache miss per character of Chinese).
#[derive(Clone, Debug)]
struct WholePairs {
    lines: Vec<Line>,
    /// Whether the key that marks empty slots (U+FFFF twice) is in the set.
    has_empty_key: bool,
}

#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u32; 16]);

const EMPTY32: u32 = u32::MAX;

impl WholePairs {
    fn new(keys: &rustc_hash::FxHashSet<u32>) -> WholePairs {
        let mut s = WholePairs { lines: vec![Line([EMPTY32; 16]); keys.len() / 12 + 1], has_empty_key: false };
        for &k in keys {
            if k == EMPTY32 {
                s.has_empty_key = true;
                continue;
            }
            let mut at = s.home(k);
            loop {
                if let Some(slot) = s.lines[at].0.iter_mut().find(|x| **x == EMPTY32) {
                    *slot = k;
                    break;
                }
                at = (at + 1) % s.lines.len();
            }
        }
        s
    }

    #[inline(always)]
    fn home(&self, k: u32) -> usize {
        let h = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        ((h * self.lines.len() as u64) >> 32) as usize
    }

    #[inline(always)]
    fn contains(&self, k: u32) -> bool {
        if k == EMPTY32 {
            return self.has_empty_key;
        }
        let mut at = self.home(k);
        loop {
            // SAFETY: `home` and the wrap below keep `at` below the number of lines.
            let line = unsafe { self.lines.get_unchecked(at) };
            let (found, empty) = Self::match_line(line, k);
            if found {
                return true;
            }
            if empty {
                return false;
            }
            at = if at + 1 == self.lines.len() { 0 } else { at + 1 };
        }
    }

    /// Whether the line holds `k`, and whether it has an empty slot.
    #[inline(always)]
    fn match_line(line: &Line, k: u32) -> (bool, bool) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is part of x86_64; the four loads read the line's 64 aligned bytes.
            unsafe {
                let p = line.0.as_ptr() as *const __m128i;
                let (key, empty) = (_mm_set1_epi32(k as i32), _mm_set1_epi32(-1));
                let (a, b, c, d) = (_mm_load_si128(p), _mm_load_si128(p.add(1)), _mm_load_si128(p.add(2)), _mm_load_si128(p.add(3)));
                let any = |x: __m128i| {
                    _mm_movemask_epi8(_mm_or_si128(
                        _mm_or_si128(_mm_cmpeq_epi32(a, x), _mm_cmpeq_epi32(b, x)),
                        _mm_or_si128(_mm_cmpeq_epi32(c, x), _mm_cmpeq_epi32(d, x)),
                    )) != 0
                };
                (any(key), any(empty))
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        (line.0.contains(&k), line.0.contains(&EMPTY32))
    }
}

/// The crossing table of one vocabulary.
#[derive(Clone, Debug)]
pub(crate) struct Cuts {
    /// Pairs of whole characters below U+10000.
    whole: WholePairs,
    /// The forms with part of a character.
    pairs: KeySet,
    /// Flags of each code point below U+10000.
    flags: Vec<u8>,
    /// The ids of each character from U+0080 to U+FFFF merged alone: `[n, id, id, id]`. A part
    /// that is one character (most parts, where characters are not tokens: GPT-2's Chinese)
    /// then costs one read instead of a lookup and a merge.
    alone: crate::huge::HugeSlice<[u32; 4]>,
    /// For each token, whether merging its bytes gives that token: 0 not known yet, 1 yes, 2 no.
    /// A part is merged like any stretch of bytes, so a part that is a token may take its id from
    /// the token table only when merging would give it too (not every token is what merging its
    /// own bytes gives). Learned on first sight of each token as a part: finding out for all of
    /// o200k up front would cost about 130 ms.
    reachable: Learned,
}

/// Two bits per token (0 not known yet, 1 yes, 2 no), four tokens to an atomic byte, learned
/// while encoding; a clone copies what is known. (A byte per token made the read a cache miss
/// more often than not: o200k's 200 KB against 50 KB.)
#[derive(Debug)]
struct Learned(Vec<std::sync::atomic::AtomicU8>);

impl Learned {
    fn new(tokens: usize) -> Self {
        Learned((0..tokens.div_ceil(4)).map(|_| Default::default()).collect())
    }

    #[inline(always)]
    fn get(&self, id: u32) -> u8 {
        self.0[id as usize / 4].load(std::sync::atomic::Ordering::Relaxed) >> (id % 4 * 2) & 3
    }

    /// Every thread that learns a token's state learns the same, so the bits only ever go from
    /// 0 to that state.
    fn set(&self, id: u32, state: u8) {
        self.0[id as usize / 4].fetch_or(state << (id % 4 * 2), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clone for Learned {
    fn clone(&self) -> Self {
        Learned(self.0.iter().map(|b| b.load(std::sync::atomic::Ordering::Relaxed).into()).collect())
    }
}

impl Cuts {
    pub(crate) fn new(v: &Vocab) -> Cuts {
        // Distinct keys (o200k: 25,497 of about a million (token, point) pairs): pairs of whole
        // characters in `whole`, the forms with part of a character in `keys`.
        let mut keys = rustc_hash::FxHashSet::default();
        let mut whole = rustc_hash::FxHashSet::default();
        // (flagged side, form) of the rare forms with part of a character.
        let mut whole_part = Vec::new();
        let mut tails = Vec::new();
        let mut after_tail = Vec::new();
        let mut heads = Vec::new();
        for t in &v.tokens {
            for j in 1..t.len() {
                // The point between the two characters sits before t[j], which starts d.
                let Some(n) = declared_len(t[j]) else { continue };
                // The left side: the last character of t[..j] whole, or, when t starts inside a
                // character, the bytes it starts with.
                let mut p = j - 1;
                while p > 0 && is_continuation(t[p]) {
                    p -= 1;
                }
                let (left, left_whole) = if is_continuation(t[p]) {
                    // Only a tail of at most three bytes can end a character.
                    if j > 3 {
                        continue;
                    }
                    (&t[..j], false)
                } else {
                    // A character cut short by the byte after it never appears in UTF-8 text.
                    if declared_len(t[p]) != Some(j - p) {
                        continue;
                    }
                    (&t[p..j], true)
                };
                let (right, right_whole) = if t.len() - j >= n { (&t[j..j + n], true) } else { (&t[j..], false) };
                match (left_whole, right_whole) {
                    // Beside a character above U+FFFF no cut is asked for.
                    (true, true) => {
                        if let (Some(c), Some(d)) = (code_point(left), code_point(right)) {
                            whole.insert(c << 16 | d);
                        }
                    }
                    (true, false) => {
                        keys.insert(key(left, right));
                        whole_part.push(left.to_vec());
                    }
                    (false, true) => {
                        keys.insert(key(left, right));
                        tails.push(left.to_vec());
                        after_tail.push(right.to_vec());
                    }
                    (false, false) => {
                        keys.insert(key(left, right));
                        tails.push(left.to_vec());
                        heads.push(right.to_vec());
                    }
                }
            }
        }
        let mut flags = vec![0u8; 0x10000];
        for &k in &whole {
            flags[(k >> 16) as usize] |= BEFORE_WHOLE;
            flags[(k & 0xFFFF) as usize] |= AFTER_WHOLE;
        }
        for c in &whole_part {
            if let Some(i) = code_point(c) {
                flags[i as usize] |= WHOLE_PART;
            }
        }
        for d in &after_tail {
            if let Some(i) = code_point(d) {
                flags[i as usize] |= AFTER_TAIL;
            }
        }
        let tails: rustc_hash::FxHashSet<Vec<u8>> = tails.into_iter().collect();
        let heads: rustc_hash::FxHashSet<Vec<u8>> = heads.into_iter().collect();
        if !tails.is_empty() {
            let mut buf = [0u8; 4];
            for c in (0x80..0x10000u32).filter_map(char::from_u32) {
                let b = c.encode_utf8(&mut buf).as_bytes();
                let n = b.len();
                if (1..n).any(|k| tails.contains(&b[n - k..])) {
                    flags[c as usize] |= TAIL;
                }
                if (1..n).any(|k| heads.contains(&b[..k])) {
                    flags[c as usize] |= HEAD_AFTER_TAIL;
                }
            }
        }
        let mut alone = crate::huge::HugeSlice::filled(0x10000, [0u32; 4]);
        let mut buf = [0u8; 4];
        let mut ids = Vec::with_capacity(3);
        for c in (0x80..0x10000u32).filter_map(char::from_u32) {
            ids.clear();
            v.merge_piece(c.encode_utf8(&mut buf).as_bytes(), &mut ids, u32::MAX);
            let a = &mut alone[c as usize];
            a[0] = ids.len() as u32;
            a[1..1 + ids.len()].copy_from_slice(&ids);
        }
        let reachable = Learned::new(v.tokens.len());
        Cuts { whole: WholePairs::new(&whole), pairs: KeySet::new(&keys), flags, alone, reachable }
    }

    /// Whether some token could cross between the neighbouring characters `c` and `d` (each
    /// one valid UTF-8 character), whose flags are `cf` and `df`.
    #[inline(always)]
    fn crossed(&self, c: &[u8], cc: usize, cf: u8, d: &[u8], dc: usize, df: u8) -> bool {
        if cf & BEFORE_WHOLE != 0 && df & AFTER_WHOLE != 0 && self.whole.contains((cc << 16 | dc) as u32) {
            return true;
        }
        if cf & WHOLE_PART != 0 && (1..d.len()).any(|k| self.pairs.contains(key(c, &d[..k]))) {
            return true;
        }
        if cf & TAIL != 0 && df & (AFTER_TAIL | HEAD_AFTER_TAIL) != 0 {
            for i in 1..c.len() {
                let s = &c[c.len() - i..];
                if df & AFTER_TAIL != 0 && self.pairs.contains(key(s, d)) {
                    return true;
                }
                if df & HEAD_AFTER_TAIL != 0 && (1..d.len()).any(|k| self.pairs.contains(key(s, &d[..k]))) {
                    return true;
                }
            }
        }
        false
    }

    /// The ids of `part` if it is one character from U+0080 to U+FFFF (which a piece cut
    /// between characters often is).
    #[inline(always)]
    pub(crate) fn alone(&self, part: &[u8]) -> Option<&[u32]> {
        let code = match *part {
            [a @ 0xC0..=0xDF, b] => ((a & 0x1F) as usize) << 6 | (b & 0x3F) as usize,
            [a @ 0xE0..=0xEF, b, c] => ((a & 0x0F) as usize) << 12 | ((b & 0x3F) as usize) << 6 | (c & 0x3F) as usize,
            _ => return None,
        };
        let a = &self.alone[code];
        Some(&a[1..1 + a[0] as usize])
    }

    /// Whether merging the bytes of token `id` gives that token, if known yet.
    #[inline(always)]
    pub(crate) fn reachable(&self, id: u32) -> Option<bool> {
        match self.reachable.get(id) {
            0 => None,
            known => Some(known == 1),
        }
    }

    /// Record what merging the bytes of token `id` gives (every thread finds the same).
    pub(crate) fn set_reachable(&self, id: u32, yes: bool) {
        self.reachable.set(id, if yes { 1 } else { 2 });
    }

    /// Call `each` on the stretches of `piece` between the points no token can cross, in order.
    #[inline]
    pub(crate) fn split<'p>(&self, piece: &'p str, mut each: impl FnMut(&'p [u8])) {
        let b = piece.as_bytes();
        let mut start = 0;
        // The previous character: its place, length and flags (None: above U+FFFF).
        let mut prev: Option<(usize, usize, usize, u8)> = None;
        let mut i = 0;
        while i < b.len() {
            // `piece` is UTF-8, so the lead byte gives the length and the bytes are there.
            let lead = b[i];
            let (n, code) = match lead {
                0x00..=0x7F => (1, lead as usize),
                0xC0..=0xDF => (2, ((lead & 0x1F) as usize) << 6 | (b[i + 1] & 0x3F) as usize),
                0xE0..=0xEF => (
                    3,
                    ((lead & 0x0F) as usize) << 12 | ((b[i + 1] & 0x3F) as usize) << 6 | (b[i + 2] & 0x3F) as usize,
                ),
                _ => (4, usize::MAX),
            };
            let flags = self.flags.get(code).copied();
            if let (Some((p, pn, pc, pf)), Some(f)) = (prev, flags) {
                if !self.crossed(&b[p..p + pn], pc, pf, &b[i..i + n], code, f) {
                    each(&b[start..i]);
                    start = i;
                }
            }
            prev = flags.map(|f| (i, n, code, f));
            i += n;
        }
        each(&b[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The naive question: does some token equal a stretch of `piece` across `at`?
    fn crossed_naive(v: &Vocab, piece: &[u8], at: usize) -> bool {
        (0..at).any(|i| (at + 1..=piece.len()).any(|j| v.token_id(&piece[i..j]).is_some()))
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Random tokens made of whole and partial characters of a small alphabet, so that every
    /// form of crossing (whole or partial on either side) occurs.
    fn random_vocab(rng: &mut Rng, alphabet: &[char]) -> Vocab {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut seen: std::collections::HashSet<Vec<u8>> = tokens.iter().cloned().collect();
        for _ in 0..400 {
            let s: String = (0..1 + rng.below(4)).map(|_| alphabet[rng.below(alphabet.len())]).collect();
            let b = s.as_bytes();
            let i = rng.below(3).min(b.len() - 1);
            let j = b.len() - rng.below(3).min(b.len() - i - 1);
            let t = b[i..j].to_vec();
            if seen.insert(t.clone()) {
                tokens.push(t);
            }
        }
        Vocab::new(tokens, vec![], "test").unwrap()
    }

    /// The table's question asked of every token: does one hold all of `c`, or a tail of it
    /// that the token starts with, followed by all of `d`, or a head of it that the token ends
    /// with?
    fn crossed_by_form(v: &Vocab, c: &[u8], d: &[u8]) -> bool {
        v.tokens.iter().any(|t| {
            (1..t.len()).any(|j| {
                let (l, r) = t.split_at(j);
                (l.ends_with(c) || (l.len() < c.len() && c.ends_with(l)))
                    && (r.starts_with(d) || (r.len() < d.len() && d.starts_with(r)))
            })
        })
    }

    #[test]
    fn whole_pairs_hold_exactly_their_keys() {
        // Enough keys that many lines overflow into the next (and the last into the first).
        let mut rng = Rng(0x2545F4914F6CDD1D);
        for n in [0, 1, 16, 17, 200, 5000] {
            let mut keys: rustc_hash::FxHashSet<u32> = (0..n).map(|_| rng.below(1 << 20) as u32 * 4093).collect();
            if n == 200 {
                keys.insert(EMPTY32);
            }
            let set = WholePairs::new(&keys);
            for &k in &keys {
                assert!(set.contains(k), "{k} of {n}");
            }
            for _ in 0..20_000 {
                let k = rng.below(1 << 32) as u32;
                assert_eq!(set.contains(k), keys.contains(&k), "{k} of {n}");
            }
            assert_eq!(set.contains(EMPTY32), n == 200);
        }
    }

    #[test]
    fn cuts_are_made_where_no_token_crosses_and_keep_the_ids() {
        let alphabet = ['a', ' ', 'é', 'ж', '中', '文', '字', '\u{FFFD}', '😀'];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut cuts_seen, mut pieces_cut) = (0, 0);
        for _ in 0..200 {
            let v = random_vocab(&mut rng, &alphabet);
            let cuts = Cuts::new(&v);
            for _ in 0..200 {
                let s: String = (0..1 + rng.below(8)).map(|_| alphabet[rng.below(alphabet.len())]).collect();
                let piece = s.as_bytes();
                let mut got = Vec::new();
                let mut parts = Vec::new();
                let mut at = 0;
                cuts.split(&s, |part| {
                    at += part.len();
                    got.push(at);
                    v.merge_piece(part, &mut parts, u32::MAX);
                });
                assert_eq!(got.pop(), Some(piece.len()));
                // Every cut is sound: no token crosses it.
                for &i in &got {
                    assert!(!crossed_naive(&v, piece, i), "{s:?} cut at {i}");
                }
                // And cut exactly where the table's question says, except beside characters
                // of four bytes, never cut.
                let want: Vec<usize> = s
                    .char_indices()
                    .skip(1)
                    .map(|(i, d)| (i, s[..i].chars().next_back().unwrap(), d))
                    .filter(|&(_, c, d)| c.len_utf8() < 4 && d.len_utf8() < 4)
                    .filter(|&(i, c, d)| !crossed_by_form(&v, &piece[i - c.len_utf8()..i], &piece[i..i + d.len_utf8()]))
                    .map(|(i, _, _)| i)
                    .collect();
                assert_eq!(got, want, "{s:?}");
                // The ids of the parts are the ids of the whole.
                let mut whole = Vec::new();
                v.merge_piece(piece, &mut whole, u32::MAX);
                assert_eq!(parts, whole, "{s:?}");
                // And the encoder's path (cuts, characters alone, the token table for parts, the
                // piece cache) gives the ids of tiktoken's rule: a piece that is a token is its
                // own id, any other merges whole.
                let mut encoded = Vec::new();
                v.encode_text_piece(&s, &mut encoded);
                let want = v.token_id(piece).map_or(whole, |id| vec![id]);
                assert_eq!(encoded, want, "{s:?}");
                cuts_seen += got.len();
                pieces_cut += !got.is_empty() as usize;
            }
        }
        assert!(cuts_seen > 500 && pieces_cut > 500, "too few cuts to test ({cuts_seen} in {pieces_cut} pieces)");
    }

    #[test]
    fn a_part_that_is_a_token_merging_cannot_reach_is_merged() {
        // 中 and 中a are tokens, but no pair of their bytes is: merging gives bytes, and so must
        // every part of a cut piece (tiktoken takes a token's own id for a whole piece only).
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        tokens.push("中".into());
        tokens.push("中a".into());
        let v = Vocab::new(tokens, vec![], "test").unwrap();
        let bytes = |s: &str| -> Vec<u32> { s.bytes().map(|b| b as u32).collect() };
        for text in ["中文", "文中", "中a文", "文中a", "中中a"] {
            let mut ids = Vec::new();
            v.encode_text_piece(text, &mut ids);
            assert_eq!(ids, bytes(text), "{text}");
        }
        let mut ids = Vec::new();
        v.encode_text_piece("中", &mut ids);
        assert_eq!(ids, [256], "a whole piece that is a token is its id");
    }
}
