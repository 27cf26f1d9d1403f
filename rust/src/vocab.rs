//! The vocabulary: token bytes by id, the rank lookup, and the pair table the encoder merges with.
//!
//! A vocabulary is a list of ordinary tokens whose id is their rank (lower merges first), the 256
//! single bytes among them, plus special tokens at ids of their own. Encoding follows tiktoken's
//! rule: repeatedly merge the adjacent pair whose concatenation is the token of lowest rank. The
//! pair table lists, for every token, each way of writing it as two tokens, so long pieces merge
//! on ids alone; short pieces (most merges) look up the bytes of each candidate pair in the table
//! of token bytes instead, which the encoder's lookup of every piece keeps in the cache.

use crate::error::{Error, Result};
use crate::lookup::{PairIds, TokenIds};
use rustc_hash::FxHashMap;

pub use crate::lookup::pair_key;

#[derive(Clone, Debug)]
pub struct Vocab {
    /// Bytes of each ordinary token; the index is the id (and rank).
    pub tokens: Vec<Vec<u8>>,
    /// Ordinary token bytes → id.
    ids: TokenIds,
    /// (left id, right id) → id of the token their concatenation spells.
    pairs: PairIds,
    /// Id of each single byte.
    pub byte_ids: [u32; 256],
    /// Special tokens, sorted by id.
    pub specials: Vec<(String, u32)>,
    /// Bit (x << 8 | y) is set when some token holds byte x followed by byte y. Where a piece
    /// has a byte pair no token holds, no merge can cross, so a long piece splits there.
    bridges: Vec<u64>,
    /// The id of the token each pair of single bytes merges into (u32::MAX: none), at index
    /// (a << 8 | b): the first ranks of every merge come from this 256 KB table.
    byte_pairs: Box<[u32]>,
    /// Tells this vocabulary's entries apart in each thread's map of long pieces.
    cache_key: u64,
    /// The ids of pieces that are not tokens, kept for repeats (made on first use; shared by
    /// all threads).
    piece_slots: std::sync::OnceLock<crate::piece_cache::Slots>,
    /// Where pieces with characters of several bytes can be cut (made on first use).
    cuts: std::sync::OnceLock<Box<crate::cuts::Cuts>>,
}

/// `merge_short` prefetches the slots of all spans of pieces up to this long (o200k, one core,
/// English as 4 KB documents: 1.12-1.18x with 16 or 32, 1.10x with every length).
const PREFETCH_SPANS_MAX: usize = 16;

/// Spare elements at the end of `merge_short`'s arrays (see `shift_down`).
const SHIFT: usize = 16;

/// `a[dst..dst + len] = a[dst + 1..dst + 1 + len]`: for `len` up to `SHIFT`, as a copy of a fixed
/// `SHIFT` elements, which also moves elements past the live ones (the caller reads none of them).
#[inline(always)]
fn shift_down<T: Copy + Default>(a: &mut [T], dst: usize, len: usize) {
    if len <= SHIFT && dst + 1 + SHIFT <= a.len() {
        let mut tmp = [T::default(); SHIFT];
        tmp.copy_from_slice(&a[dst + 1..dst + 1 + SHIFT]);
        a[dst..dst + SHIFT].copy_from_slice(&tmp);
    } else {
        a.copy_within(dst + 1..dst + 1 + len, dst);
    }
}

/// A long piece whose runs of one byte average at least this length merges in run-length form.
const RUN_MIN_LEN: usize = 16;

/// Forget the pieces cached so far, in every vocabulary and thread (see `piece_cache::clear`).
pub fn clear_piece_caches() {
    crate::piece_cache::clear()
}

static NEXT_CACHE_KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Vocab {
    /// Build from ordinary tokens (index = id) and special tokens. `source` names the origin for
    /// error messages.
    pub fn new(tokens: Vec<Vec<u8>>, mut specials: Vec<(String, u32)>, source: &str) -> Result<Self> {
        let mut first_id: FxHashMap<&[u8], u32> =
            FxHashMap::with_capacity_and_hasher(tokens.len(), Default::default());
        for (id, bytes) in tokens.iter().enumerate() {
            if bytes.is_empty() {
                return Err(Error::Format(source.into(), 0, format!("token {id} is empty")));
            }
            if let Some(first) = first_id.insert(bytes, id as u32) {
                return Err(Error::DuplicateToken {
                    source: source.into(),
                    first,
                    second: id as u32,
                    bytes: crate::formats::show_bytes(bytes),
                });
            }
        }
        let mut byte_ids = [0u32; 256];
        for b in 0..=255u8 {
            match first_id.get(&[b][..]) {
                Some(&id) => byte_ids[b as usize] = id,
                None => {
                    return Err(Error::Format(
                        source.into(),
                        0,
                        format!("the vocabulary lacks the single byte 0x{b:02x}, so not every text can be encoded"),
                    ))
                }
            }
        }
        // Only cuts whose two sides have lengths some token has can split a token in two; trying
        // just those keeps this linear even for vocabularies of very long tokens.
        let mut lengths: Vec<usize> = tokens.iter().map(Vec::len).collect();
        lengths.sort_unstable();
        lengths.dedup();
        drop(first_id);
        // The halves are looked up in the encoder's own table (inline keys: a probe reads one
        // cache line, no pointer to the bytes), the right one only when the left is a token.
        let ids = TokenIds::new(&tokens);
        let mut pairs = Vec::with_capacity(tokens.len() * 3);
        for (id, bytes) in tokens.iter().enumerate() {
            for &cut in lengths.iter().take_while(|&&k| k < bytes.len()) {
                if lengths.binary_search(&(bytes.len() - cut)).is_err() {
                    continue;
                }
                if let Some(l) = ids.get(&bytes[..cut]) {
                    if let Some(r) = ids.get(&bytes[cut..]) {
                        pairs.push((l, r, id as u32));
                    }
                }
            }
        }
        let pairs = PairIds::new(&pairs);
        specials.sort_by_key(|s| s.1);
        let mut seen = std::collections::HashSet::new();
        for (text, id) in &specials {
            if text.is_empty() {
                return Err(Error::Value("a special token cannot be the empty string".into()));
            }
            if !seen.insert(text.as_str()) {
                return Err(Error::Value(format!("the special token {text:?} is given twice")));
            }
            if (*id as usize) < tokens.len() {
                return Err(Error::Value(format!(
                    "the special token {text:?} has id {id}, which an ordinary token already uses"
                )));
            }
        }
        for w in specials.windows(2) {
            if w[0].1 == w[1].1 {
                return Err(Error::Value(format!(
                    "the special tokens {:?} and {:?} share the id {}",
                    w[0].0, w[1].0, w[0].1
                )));
            }
        }
        let mut bridges = vec![0u64; 1024];
        for t in &tokens {
            for w in t.windows(2) {
                let bit = (w[0] as usize) << 8 | w[1] as usize;
                bridges[bit >> 6] |= 1 << (bit & 63);
            }
        }
        let byte_pairs = (0..1usize << 16)
            .map(|ab| pairs.get(byte_ids[ab >> 8], byte_ids[ab & 255]).unwrap_or(u32::MAX))
            .collect();
        let cache_key = NEXT_CACHE_KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Vocab { tokens, ids, pairs, byte_ids, specials, bridges, byte_pairs, cache_key, cuts: Default::default(), piece_slots: Default::default() })
    }

    /// Ids 0..=255 are single bytes (`byte_order[id]` is the byte of token `id`), then one token
    /// per merge, specials after.
    pub fn from_merges(
        byte_order: &[u8; 256],
        merges: &[(u32, u32)],
        specials: Vec<(String, u32)>,
        source: &str,
    ) -> Result<Self> {
        let mut tokens: Vec<Vec<u8>> = byte_order.iter().map(|&b| vec![b]).collect();
        for (i, &(l, r)) in merges.iter().enumerate() {
            let n = tokens.len() as u32;
            if l >= n || r >= n {
                return Err(Error::Format(
                    source.into(),
                    0,
                    format!("merge {i} ({l} {r}) names a token that does not exist yet (only ids below {n} do)"),
                ));
            }
            let mut bytes = tokens[l as usize].clone();
            bytes.extend_from_slice(&tokens[r as usize]);
            tokens.push(bytes);
        }
        Vocab::new(tokens, specials, source)
    }

    /// One past the largest id, as tiktoken counts it.
    pub fn n_vocab(&self) -> usize {
        let top_special = self.specials.iter().map(|s| s.1 as usize + 1).max().unwrap_or(0);
        self.tokens.len().max(top_special)
    }

    /// The bytes of token `id`, ordinary or special.
    pub fn token_bytes(&self, id: i64) -> Result<&[u8]> {
        if id >= 0 && (id as usize) < self.tokens.len() {
            return Ok(&self.tokens[id as usize]);
        }
        if id >= 0 {
            if let Ok(i) = self.specials.binary_search_by_key(&(id as u32), |s| s.1) {
                return Ok(self.specials[i].0.as_bytes());
            }
        }
        Err(Error::TokenId(id, self.n_vocab()))
    }

    /// Start loading what `encode_piece(piece)` will look up first.
    #[inline(always)]
    pub fn prefetch(&self, piece: &[u8]) {
        self.ids.prefetch(piece)
    }

    /// The ids of one pre-tokenizer piece, appended to `out`: a piece that is a token is one id.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        match self.ids.get(piece) {
            Some(id) => out.push(id),
            None if !piece.is_ascii() => match std::str::from_utf8(piece) {
                Ok(text) => self.encode_cut(text, out),
                Err(_) => self.encode_rest(piece, out),
            },
            None => self.encode_rest(piece, out),
        }
    }

    /// `encode_piece` for a piece known to be UTF-8 (the encoder's pieces all are).
    #[inline]
    pub fn encode_text_piece(&self, piece: &str, out: &mut Vec<u32>) {
        match self.ids.get(piece.as_bytes()) {
            Some(id) => out.push(id),
            None if !piece.is_ascii() => self.encode_cut(piece, out),
            None => self.encode_rest(piece.as_bytes(), out),
        }
    }

    /// A piece with characters of several bytes that is not a token: cut where no token crosses
    /// (see `cuts`), and encode the parts.
    fn encode_cut(&self, piece: &str, out: &mut Vec<u32>) {
        let cuts = self.cuts();
        cuts.split(piece, |part| {
            if part.len() == piece.len() {
                return self.encode_rest(part, out);
            }
            if let Some(ids) = cuts.alone(part) {
                return out.extend_from_slice(ids);
            }
            match self.ids.get(part).map(|id| (id, cuts.reachable(id))) {
                Some((id, Some(true))) => out.push(id),
                Some((id, None)) => {
                    let start = out.len();
                    self.merge_piece(part, out, u32::MAX);
                    cuts.set_reachable(id, out[start..] == [id]);
                }
                _ => self.encode_rest(part, out),
            }
        })
    }

    /// The ids of a piece that is not a token.
    #[inline]
    fn encode_rest(&self, piece: &[u8], out: &mut Vec<u32>) {
        // Short pieces merge faster than a lookup; long ones rarely repeat.
        if piece.len() < 4 || piece.len() > crate::piece_cache::MAX_LEN {
            self.merge_piece(piece, out, u32::MAX)
        } else {
            let slots = self.piece_slots.get_or_init(Default::default);
            crate::piece_cache::get_or_merge(slots, self.cache_key, piece, out, |out| self.merge_piece(piece, out, u32::MAX))
        }
    }

    fn cuts(&self) -> &crate::cuts::Cuts {
        self.cuts.get_or_init(|| Box::new(crate::cuts::Cuts::new(self)))
    }

    /// Merge the bytes of one piece into token ids, appending them to `out`.
    /// `max_rank` limits the merges to tokens of lower id (used to recover merge lists).
    pub fn merge_piece(&self, piece: &[u8], out: &mut Vec<u32>, max_rank: u32) {
        match piece.len() {
            0 => return,
            1 => return out.push(self.byte_ids[piece[0] as usize]),
            _ => {}
        }
        if piece.len() <= 64 {
            return self.merge_short(piece, out, max_rank);
        }
        // A long piece: merge each stretch between byte pairs that no token holds on its own.
        let mut start = 0;
        for i in 1..piece.len() {
            let bit = (piece[i - 1] as usize) << 8 | piece[i] as usize;
            if self.bridges[bit >> 6] & (1 << (bit & 63)) == 0 {
                self.merge_stretch(&piece[start..i], out, max_rank);
                start = i;
            }
        }
        self.merge_stretch(&piece[start..], out, max_rank);
    }

    #[inline]
    fn merge_stretch(&self, stretch: &[u8], out: &mut Vec<u32>, max_rank: u32) {
        match stretch.len() {
            1 => out.push(self.byte_ids[stretch[0] as usize]),
            2..=64 => self.merge_short(stretch, out, max_rank),
            _ => self.merge_long(stretch, out, max_rank),
        }
    }

    /// The id of the ordinary token with these bytes, if any.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.ids.get(bytes)
    }

    #[inline(always)]
    fn rank(&self, l: u32, r: u32, max_rank: u32) -> u32 {
        match self.pairs.get(l, r) {
            Some(t) if t < max_rank => t,
            _ => u32::MAX,
        }
    }

    /// Quadratic in the worst case, fastest on the short pieces that make up most text. The parts
    /// are merged in local arrays and appended to `out`.
    fn merge_short(&self, piece: &[u8], out: &mut Vec<u32>, max_rank: u32) {
        let n = piece.len();
        debug_assert!((1..=64).contains(&n));
        let byte_rank = |i: usize| {
            let r = self.byte_pairs[(piece[i] as usize) << 8 | piece[i + 1] as usize];
            if r < max_rank { r } else { u32::MAX }
        };
        let id = |b: u8| self.byte_ids[b as usize];
        if n == 2 {
            // One character of two bytes, or two ASCII letters.
            match byte_rank(0) {
                u32::MAX => out.extend_from_slice(&[id(piece[0]), id(piece[1])]),
                r => out.push(r),
            }
            return;
        }
        if n == 3 {
            // Most often one character of three bytes (Chinese cut into characters).
            let (r0, r1) = (byte_rank(0), byte_rank(1));
            if r0 == u32::MAX && r1 == u32::MAX {
                return out.extend_from_slice(&[id(piece[0]), id(piece[1]), id(piece[2])]);
            }
            let (l, r) = if r0 <= r1 { (r0, id(piece[2])) } else { (id(piece[0]), r1) };
            match self.span_rank(piece, max_rank) {
                u32::MAX => out.extend_from_slice(&[l, r]),
                t => out.push(t),
            }
            return;
        }
        // Each merge below looks up the spans of its new neighbours, and waits for them before
        // it can choose the next. In prose most such spans are rare (their slots are not in the
        // cache), so the merges of a piece would wait for one memory access after another: ask
        // at once for the slot of every span of 3 bytes or more that a short piece could need
        // (the whole piece was looked up just before), and the misses overlap.
        if n <= PREFETCH_SPANS_MAX {
            for len in 3..n {
                for i in 0..=n - len {
                    self.ids.prefetch(&piece[i..i + len]);
                }
            }
        }
        // Local arrays with `SHIFT` spare elements, so that removing a merged part shifts a
        // fixed number of elements (inline moves) instead of calling memmove.
        let mut parts = [0u32; 64 + SHIFT];
        for (p, &b) in parts.iter_mut().zip(piece) {
            *p = id(b);
        }
        let mut ranks = [u32::MAX; 64 + SHIFT];
        for (i, r) in ranks[..n - 1].iter_mut().enumerate() {
            *r = byte_rank(i);
        }
        // Part i spans piece[at[i]..at[i + 1]], so merging parts i and i + 1 gives the token
        // whose bytes are piece[at[i]..at[i + 2]] (see `span_rank`).
        let mut at = [0u8; 65 + SHIFT];
        for (i, a) in at[..=n].iter_mut().enumerate() {
            *a = i as u8;
        }
        let span = |at: &[u8], i: usize| &piece[at[i] as usize..at[i + 2] as usize];
        let mut m = n;
        loop {
            let (mut best, mut k) = (u32::MAX, usize::MAX);
            for (i, &r) in ranks[..m - 1].iter().enumerate() {
                if r < best {
                    best = r;
                    k = i;
                }
            }
            if best == u32::MAX {
                break;
            }
            parts[k] = best;
            shift_down(&mut parts, k + 1, m - k - 2);
            shift_down(&mut ranks, k, m - k - 2);
            shift_down(&mut at, k + 1, m - k - 1);
            m -= 1;
            if k + 1 < m {
                ranks[k] = self.span_rank(span(&at, k), max_rank);
            }
            if k > 0 {
                ranks[k - 1] = self.span_rank(span(&at, k - 1), max_rank);
            }
        }
        out.extend_from_slice(&parts[..m]);
    }

    /// The rank of merging two adjacent parts that together spell `bytes`: the id of the token
    /// `bytes` is, if below `max_rank` (else u32::MAX). The same as `rank` on the parts' ids,
    /// since the pair table holds every way of writing a token as two, but read from the table
    /// of token bytes, which every piece's lookup keeps warm in the cache.
    #[inline(always)]
    fn span_rank(&self, bytes: &[u8], max_rank: u32) -> u32 {
        match self.ids.get(bytes) {
            Some(t) if t < max_rank => t,
            _ => u32::MAX,
        }
    }

    /// A long stretch: in run-length form when it is made of long runs of one byte, else by the
    /// heap form.
    fn merge_long(&self, piece: &[u8], out: &mut Vec<u32>, max_rank: u32) {
        let runs = piece.chunk_by(|a, b| a == b).count();
        if runs * RUN_MIN_LEN <= piece.len() {
            let runs = piece.chunk_by(|a, b| a == b).map(|r| (self.byte_ids[r[0] as usize], r.len())).collect();
            return self.merge_runs(runs, out, max_rank);
        }
        self.merge_ids(piece.iter().map(|&b| self.byte_ids[b as usize]).collect(), out, max_rank)
    }

    /// The merge loop over a run-length form, for pieces made of long runs of one byte (1 MB of
    /// spaces): a run of k copies of `a` whose pair (a, a) merges first becomes k/2 copies of
    /// the merged token in one step, as the pairwise loop would merge them left to right, as long
    /// as no pair the step creates would merge before the step ends. Otherwise a step merges one
    /// pair, exactly as the pairwise loop does. Each step costs the number of runs; past a budget
    /// linear in the piece's length, the rest goes to the heap form, so no input is slower than it.
    fn merge_runs(&self, mut runs: Vec<(u32, usize)>, out: &mut Vec<u32>, max_rank: u32) {
        let n: usize = runs.iter().map(|r| r.1).sum();
        let mut budget = 4 * n;
        let rank = |l: u32, r: u32| self.rank(l, r, max_rank);
        loop {
            // The lowest-ranked pair, leftmost among equals: inside a run (at its start) or
            // across the boundary after it (at its end).
            let (mut best, mut at, mut inside) = (u32::MAX, 0, false);
            for (i, &(a, k)) in runs.iter().enumerate() {
                if k >= 2 {
                    let r = rank(a, a);
                    if r < best {
                        (best, at, inside) = (r, i, true);
                    }
                }
                if let Some(&(b, _)) = runs.get(i + 1) {
                    let r = rank(a, b);
                    if r < best {
                        (best, at, inside) = (r, i, false);
                    }
                }
            }
            if best == u32::MAX {
                break;
            }
            budget = budget.saturating_sub(runs.len());
            if budget == 0 {
                let ids = runs.iter().flat_map(|&(a, k)| std::iter::repeat_n(a, k)).collect();
                return self.merge_ids(ids, out, max_rank);
            }
            let t = best;
            if inside {
                let (a, k) = runs[at];
                let prev = at.checked_sub(1).map(|i| runs[i].0);
                // The whole run pairs up left to right unless a pair made on the way (t t, t a,
                // or the run before with t) would merge first.
                let whole = rank(t, a) > t && (k < 4 || rank(t, t) > t) && prev.is_none_or(|p| rank(p, t) > t);
                let mut repl: Vec<(u32, usize)> = Vec::with_capacity(2);
                if whole {
                    repl.push((t, k / 2));
                    if k % 2 == 1 {
                        repl.push((a, 1));
                    }
                } else {
                    repl.push((t, 1));
                    if k > 2 {
                        repl.push((a, k - 2));
                    }
                }
                runs.splice(at..at + 1, repl);
            } else {
                runs[at].1 -= 1;
                runs[at + 1].1 -= 1;
                runs.insert(at + 1, (t, 1));
            }
            // Drop emptied runs and join neighbours of one token.
            let mut w = 0;
            for i in 0..runs.len() {
                let r = runs[i];
                if r.1 == 0 {
                    continue;
                }
                if w > 0 && runs[w - 1].0 == r.0 {
                    runs[w - 1].1 += r.1;
                } else {
                    runs[w] = r;
                    w += 1;
                }
            }
            runs.truncate(w);
        }
        for (a, k) in runs {
            out.extend(std::iter::repeat_n(a, k));
        }
    }

    /// The heap form of the merge loop, from a sequence of ids: a heap over a linked list of
    /// parts, O(n log n) however long and repetitive the piece. Ties between equal ranks go to the
    /// leftmost pair, as in the quadratic form. Each heap entry packs (rank, position) in one u64;
    /// an entry is current while `right_rank[position]` still equals its rank, so stale entries
    /// are skipped without a lookup.
    fn merge_ids(&self, mut ids: Vec<u32>, out: &mut Vec<u32>, max_rank: u32) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        const NONE: u32 = u32::MAX;
        let n = ids.len();
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut right_rank: Vec<u32> = vec![NONE; n];
        let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(n);
        let key = |rank: u32, i: u32| Reverse(((rank as u64) << 32) | i as u64);
        for i in 0..n - 1 {
            let r = self.rank(ids[i], ids[i + 1], max_rank);
            right_rank[i] = r;
            if r != NONE {
                heap.push(key(r, i as u32));
            }
        }
        while let Some(Reverse(k)) = heap.pop() {
            let (r, i) = ((k >> 32) as u32, k as u32 as usize);
            if right_rank[i] != r {
                continue; // stale
            }
            let j = next[i] as usize;
            ids[i] = r;
            right_rank[j] = NONE;
            let after = next[j];
            next[i] = after;
            if after != NONE {
                prev[after as usize] = i as u32;
                let rr = self.rank(r, ids[after as usize], max_rank);
                right_rank[i] = rr;
                if rr != NONE {
                    heap.push(key(rr, i as u32));
                }
            } else {
                right_rank[i] = NONE;
            }
            let p = prev[i];
            if p != NONE {
                let rl = self.rank(ids[p as usize], r, max_rank);
                right_rank[p as usize] = rl;
                if rl != NONE {
                    heap.push(key(rl, p));
                }
            }
        }
        let mut i = 0u32;
        while i != NONE {
            out.push(ids[i as usize]);
            i = next[i as usize];
        }
    }

    /// The byte of each of ids 0..=255, if they are the single bytes (in any order).
    pub fn byte_order(&self) -> Result<[u8; 256]> {
        let mut order = [0u8; 256];
        for (id, slot) in order.iter_mut().enumerate() {
            match self.tokens.get(id).map(|t| t.as_slice()) {
                Some(&[b]) => *slot = b,
                _ => {
                    return Err(Error::Value(format!(
                        "token {id} is not a single byte; this vocabulary cannot be written as a merge list"
                    )))
                }
            }
        }
        Ok(order)
    }

    /// The merge list that rebuilds this vocabulary: for each token past the 256 bytes, in id
    /// order, the two tokens of lower id it is merged from. Requires ids 0..=255 to be the bytes.
    pub fn merges(&self) -> Result<Vec<(u32, u32)>> {
        let mut merges = Vec::with_capacity(self.tokens.len().saturating_sub(256));
        self.byte_order()?;
        for (id, bytes) in self.tokens.iter().enumerate().skip(256) {
            let mut parts = Vec::new();
            self.merge_piece(bytes, &mut parts, id as u32);
            if parts.len() != 2 {
                return Err(Error::Value(format!(
                    "token {id} ({}) is not reachable by one merge of lower-ranked tokens; \
                     this vocabulary cannot be written as a merge list",
                    crate::formats::show_bytes(bytes)
                )));
            }
            merges.push((parts[0], parts[1]));
        }
        Ok(merges)
    }
}

/// The byte order in which token `i` is byte `i`.
pub const IDENTITY: [u8; 256] = {
    let mut order = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        order[i] = i as u8;
        i += 1;
    }
    order
};

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vocab {
        // merges: a+a, aa+a, b+d
        Vocab::from_merges(&IDENTITY, &[(97, 97), (256, 97), (98, 100)], vec![], "toy").unwrap()
    }

    #[test]
    fn pieces_that_are_not_utf8_are_merged_whole() {
        // Merges across a character boundary and into broken sequences: the cut table must not
        // be consulted for bytes that are not UTF-8.
        let merges = [(0xe4, 0xb8), (256, 0xad), (0xad, 0x61), (0x61, 0xff), (0xff, 0xad)];
        let v = Vocab::from_merges(&IDENTITY, &merges, vec![], "toy").unwrap();
        for piece in [&b"\xe4\xb8a\xff\xad"[..], b"\xe4\xb8\xad\xe4\xb8", b"\xad\xe4\xb8\xad", b"a\xffa\xff\xad"] {
            let (mut got, mut want) = (Vec::new(), Vec::new());
            v.encode_piece(piece, &mut got);
            v.merge_piece(piece, &mut want, u32::MAX);
            assert_eq!(got, want, "{piece:?}");
        }
        let mut ids = Vec::new();
        v.encode_text_piece("中中", &mut ids);
        assert_eq!(ids, [257, 257]);
    }

    #[test]
    fn short_and_long_merges_agree() {
        let v = toy();
        for n in [2usize, 3, 5, 64, 65, 100, 1001] {
            for text in ["a".repeat(n), "ab".repeat(n / 2 + 1), "aabd".repeat(n / 4 + 1)] {
                let (mut s, mut l) = (Vec::new(), Vec::new());
                if text.len() <= 64 {
                    v.merge_short(text.as_bytes(), &mut s, u32::MAX);
                    v.merge_long(text.as_bytes(), &mut l, u32::MAX);
                    assert_eq!(s, l, "{text}");
                }
                let mut dec = Vec::new();
                v.merge_piece(text.as_bytes(), &mut l, u32::MAX);
                for id in &l[..] {
                    dec.extend_from_slice(&v.tokens[*id as usize]);
                }
                assert!(dec.ends_with(text.as_bytes()));
            }
        }
        let mut out = Vec::new();
        v.merge_piece(b"aaaaa", &mut out, u32::MAX);
        // a a a a a → (aa) a a a → (aa)(aa) a: leftmost first; then aa+a → aaa.
        assert_eq!(out, vec![256, 257]);
    }

    /// The run-length form against the heap form on vocabularies whose ranks follow no order
    /// (a long token may rank before its parts, single bytes may rank last) and inputs of runs.
    #[test]
    fn run_length_merges_equal_the_heap_form() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for round in 0..1000 {
            let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
            let mut seen: std::collections::HashSet<Vec<u8>> = tokens.iter().cloned().collect();
            for _ in 0..rnd(60) + 5 {
                let len = rnd(6) + 2;
                let mut t: Vec<u8> = match rnd(3) {
                    0 => (0..len).map(|_| b"ab"[rnd(2)]).collect(),
                    _ => vec![b"ab "[rnd(3)]; len],
                };
                if rnd(3) == 0 {
                    t[0] = b"ab \n"[rnd(4)]; // a run after another byte
                }
                if seen.insert(t.clone()) {
                    tokens.push(t);
                }
            }
            for i in (1..tokens.len()).rev() {
                let j = rnd(i + 1);
                tokens.swap(i, j);
            }
            let v = Vocab::new(tokens, vec![], "random").unwrap();
            for _ in 0..20 {
                let mut text = Vec::new();
                for _ in 0..rnd(5) + 1 {
                    let len = [rnd(4) + 1, rnd(40) + 1, rnd(400) + 1][rnd(3)];
                    text.extend(std::iter::repeat_n(b"ab \n"[rnd(4)], len));
                }
                if rnd(4) == 0 {
                    // Many short runs: the step budget runs out and the heap form finishes.
                    text.extend(b"ab".repeat(rnd(300)));
                }
                let ids: Vec<u32> = text.iter().map(|&b| v.byte_ids[b as usize]).collect();
                let runs = text.chunk_by(|a, b| a == b).map(|r| (v.byte_ids[r[0] as usize], r.len())).collect();
                let (mut by_runs, mut by_heap) = (Vec::new(), Vec::new());
                v.merge_runs(runs, &mut by_runs, u32::MAX);
                v.merge_ids(ids, &mut by_heap, u32::MAX);
                assert_eq!(by_runs, by_heap, "round {round}: {:?}", String::from_utf8_lossy(&text));
                if text.len() <= 64 {
                    let mut by_pairs = Vec::new();
                    v.merge_short(&text, &mut by_pairs, u32::MAX);
                    assert_eq!(by_runs, by_pairs);
                }
            }
        }
    }

    #[test]
    fn merges_round_trip() {
        let v = toy();
        assert_eq!(v.merges().unwrap(), vec![(97, 97), (256, 97), (98, 100)]);
    }

    #[test]
    fn bad_vocabularies_are_errors() {
        assert!(Vocab::from_merges(&IDENTITY, &[(97, 300)], vec![], "t").is_err());
        assert!(Vocab::from_merges(&IDENTITY, &[(97, 97), (97, 97)], vec![], "t").is_err());
        assert!(Vocab::from_merges(&IDENTITY, &[], vec![("".into(), 300)], "t").is_err());
        assert!(Vocab::from_merges(&IDENTITY, &[], vec![("x".into(), 10)], "t").is_err());
        assert!(Vocab::from_merges(&IDENTITY, &[], vec![("x".into(), 300), ("x".into(), 301)], "t").is_err());
    }
}
