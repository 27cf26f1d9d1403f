//! The ids of pieces that are not tokens, kept for when the text repeats them.
//!
//! Text repeats such pieces (identifiers, inflected words, Chinese words that cuts leave whole),
//! so each vocabulary remembers the ids of recent ones in a table of `SLOTS` slots that all
//! threads share: a batch on two threads merges each repeated piece once, not once per thread
//! (with a table per thread, the 4 KB documents of a MB of English, split between two threads,
//! took 5.5% more work than on one). A slot is one cache line that holds the piece's bytes and
//! ids inline: a lookup is a hash and one line compared word by word, and a new entry
//! overwrites the slot, so nothing is allocated after the table and the memory is fixed. A
//! slot's first word counts its writes (odd while one is under way), and a reader that sees it
//! change, or odd, takes the slot as empty: the sequence lock that lets threads read without
//! locking, and so never see half of one entry and half of another.
//!
//! Pieces longer than `SHORT_LEN` bytes, or of more than `MAX_IDS` ids, go to a hash map of
//! each thread's own instead (up to `MAX_LEN` bytes; emptied when it holds `LONG_LIMIT`): long
//! pieces are few, but each costs many merges, and some texts repeat them (rules of
//! box-drawing characters, long Chinese runs).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest piece kept in a slot, in bytes.
const SHORT_LEN: usize = 32;
/// The longest piece kept at all.
pub const MAX_LEN: usize = 256;
/// The most long pieces kept per vocabulary and thread.
const LONG_LIMIT: usize = 1 << 12;
/// The most ids a piece kept in a slot may have.
const MAX_IDS: usize = 6;
/// Slots per vocabulary (a power of two): 512 KB.
const SLOTS: usize = 1 << 13;
/// How many vocabularies each thread keeps a map of long pieces for.
const VOCABS: usize = 4;

/// One slot: word 0 holds the write count (bits 0-31), the piece's length (bits 32-39; 0: an
/// empty slot), how many ids it has (bits 40-47; `IN_MAP`: too many, they are in the hash map)
/// and the low bits of `EPOCH` when it was written (bits 48-63); words 1-4 the piece's bytes,
/// zero after its end; words 5-7 the ids, two to a word.
#[derive(Default)]
#[repr(C, align(64))]
struct Slot([AtomicU64; 8]);

/// A slot's `n` for a short piece of more than `MAX_IDS` ids, kept in the hash map.
const IN_MAP: u8 = u8::MAX;

/// The slots of one vocabulary, shared by all threads.
pub struct Slots(Box<[Slot]>);

impl Default for Slots {
    fn default() -> Self {
        Slots((0..SLOTS).map(|_| Slot::default()).collect())
    }
}

/// A copy starts empty (what it would have held is only ever a shortcut).
impl Clone for Slots {
    fn clone(&self) -> Self {
        Slots::default()
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slots({})", self.0.len())
    }
}

impl Slots {
    /// The entry at `at` if it holds `piece` (whose words are `key`) from epoch `epoch`: its
    /// number of ids (or `IN_MAP`) and the ids.
    #[inline(always)]
    fn get(&self, at: usize, key: &[u64; 4], len: usize, epoch: u64) -> Option<(u8, [u32; MAX_IDS])> {
        let w = &self.0[at].0;
        let head = w[0].load(Ordering::Acquire);
        let words: [u64; 7] = std::array::from_fn(|k| w[k + 1].load(Ordering::Relaxed));
        std::sync::atomic::fence(Ordering::Acquire);
        let again = w[0].load(Ordering::Relaxed);
        let same = head == again && head & 1 == 0;
        if !same || (head >> 32) as u8 as usize != len || head >> 48 != epoch & 0xFFFF || words[..4] != key[..] {
            return None;
        }
        let ids = std::array::from_fn(|k| (words[4 + k / 2] >> (32 * (k % 2))) as u32);
        Some(((head >> 40) as u8, ids))
    }

    /// Keep `ids` (at most `MAX_IDS`, or none with `n == IN_MAP`) for the piece of `key`, unless
    /// another thread is writing the slot right now.
    #[inline(always)]
    fn put(&self, at: usize, key: &[u64; 4], len: usize, n: u8, ids: &[u32], epoch: u64) {
        let w = &self.0[at].0;
        let head = w[0].load(Ordering::Relaxed);
        let count = head as u32;
        if count & 1 == 1 || w[0].compare_exchange(head, head & !0xFFFF_FFFF | count.wrapping_add(1) as u64, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        std::sync::atomic::fence(Ordering::Release);
        for (k, &word) in key.iter().enumerate() {
            w[k + 1].store(word, Ordering::Relaxed);
        }
        for k in 0..MAX_IDS / 2 {
            let id = |i: usize| ids.get(i).copied().unwrap_or(0) as u64;
            w[5 + k].store(id(2 * k) | id(2 * k + 1) << 32, Ordering::Relaxed);
        }
        let head = count.wrapping_add(2) as u64 | (len as u64) << 32 | (n as u64) << 40 | (epoch & 0xFFFF) << 48;
        w[0].store(head, Ordering::Release);
    }
}

struct Cache {
    vocab: u64,
    long: rustc_hash::FxHashMap<Box<[u8]>, Box<[u32]>>,
}

thread_local! {
    /// The maps of long pieces, and the value of EPOCH when they were last emptied.
    static CACHES: RefCell<(u64, Vec<Cache>)> = const { RefCell::new((0, Vec::new())) };
}

/// Raised by `clear`; slots written before read as empty, and each thread empties its maps
/// when it sees a new value.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Forget the pieces cached so far (slots from before read as empty; each thread empties its
/// map on its next use), so the next texts are encoded as at first sight: for benchmarks that
/// repeat one text, and to give the maps' memory back.
pub fn clear() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// Bytes `at..at + 8` of `b` as a little-endian word, zero past the end of `b`; read in place
/// (copying a piece of any length into a buffer first is a call to `memcpy`).
#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let n = b.len();
    let le8 = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    if at + 8 <= n {
        le8(at)
    } else if at >= n {
        0
    } else if n >= 8 {
        le8(n - 8) >> ((at + 8 - n) * 8) // the last 8 bytes, those before `at` shifted out
    } else {
        crate::lookup::pack7(b) & ((1 << 56) - 1) // the bytes, without the length on top
    }
}

/// The piece's bytes as four little-endian words, zero-padded, and its slot's index.
#[inline(always)]
fn key_of(piece: &[u8]) -> ([u64; 4], usize) {
    let key = [word(piece, 0), word(piece, 8), word(piece, 16), word(piece, 24)];
    let h = (key[0] ^ key[1].rotate_left(21) ^ key[2].rotate_left(42) ^ key[3].rotate_left(11) ^ piece.len() as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (key, (h >> (64 - SLOTS.trailing_zeros())) as usize)
}

/// Append the ids of `piece` (1..=`MAX_LEN` bytes) to `out`: from the slots of vocabulary
/// `vocab` (`slots`) or this thread's map for it, or from `merge`, whose result is then kept.
#[inline]
pub fn get_or_merge(slots: &Slots, vocab: u64, piece: &[u8], out: &mut Vec<u32>, merge: impl FnOnce(&mut Vec<u32>)) {
    debug_assert!((1..=MAX_LEN).contains(&piece.len()));
    let epoch = EPOCH.load(Ordering::Relaxed);
    let short = piece.len() <= SHORT_LEN;
    let (key, at) = if short { key_of(piece) } else { ([0; 4], 0) };
    // Where the ids may be: a long piece's, or a short one's of too many ids, in the map.
    let in_map = !short
        || match slots.get(at, &key, piece.len(), epoch) {
            Some((n, ids)) if n != IN_MAP => return out.extend_from_slice(&ids[..n as usize]),
            found => found.is_some(),
        };
    if in_map && with_map(vocab, epoch, |map| map.get(piece).map(|ids| out.extend_from_slice(ids))).is_some() {
        return;
    }
    let start = out.len();
    merge(out);
    let ids = &out[start..];
    if short && ids.len() <= MAX_IDS {
        return slots.put(at, &key, piece.len(), ids.len() as u8, ids, epoch);
    }
    if short {
        slots.put(at, &key, piece.len(), IN_MAP, &[], epoch);
    }
    with_map(vocab, epoch, |map| {
        if map.len() >= LONG_LIMIT {
            map.clear();
        }
        map.insert(piece.into(), ids.into());
    })
}

/// `f` on this thread's map of long pieces for vocabulary `vocab`.
fn with_map<R>(vocab: u64, epoch: u64, f: impl FnOnce(&mut rustc_hash::FxHashMap<Box<[u8]>, Box<[u32]>>) -> R) -> R {
    CACHES.with(|cell| {
        let (seen, caches) = &mut *cell.borrow_mut();
        if *seen != epoch {
            *seen = epoch;
            *caches = Vec::new();
        }
        let i = match caches.iter().position(|c| c.vocab == vocab) {
            Some(i) => i,
            None => {
                if caches.len() == VOCABS {
                    caches.remove(0);
                }
                caches.push(Cache { vocab, long: Default::default() });
                caches.len() - 1
            }
        };
        f(&mut caches[i].long)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_bytes_zero_padded() {
        let bytes: Vec<u8> = (1..=40u8).map(|i| i.wrapping_mul(37)).collect();
        for n in 1..=SHORT_LEN {
            let b = &bytes[3..3 + n];
            let mut padded = [0u8; 32];
            padded[..n].copy_from_slice(b);
            for at in [0, 8, 16, 24] {
                let want = u64::from_le_bytes(padded[at..at + 8].try_into().unwrap());
                assert_eq!(word(b, at), want, "{n} bytes, word at {at}");
            }
        }
    }

    #[test]
    fn pieces_come_back_with_their_own_ids() {
        // Many more pieces than slots, so that slots are overwritten; ids derived from the
        // bytes, so a piece given another's ids would show.
        let ids_of = |p: &[u8]| -> Vec<u32> {
            (0..1 + p.len() % MAX_IDS + p.len().is_multiple_of(3) as usize * MAX_IDS)
                .map(|i| p.iter().map(|&b| b as u32).sum::<u32>() * 31 + i as u32)
                .collect()
        };
        let piece = |i: u32| -> Vec<u8> {
            let n = 1 + (i as usize * 7) % (2 * SHORT_LEN);
            (0..n).map(|k| (i.wrapping_mul(2654435761) >> (k % 4 * 8)) as u8 ^ k as u8).collect()
        };
        let edge = [vec![0u8], vec![0, 0], vec![0; SHORT_LEN], vec![0; SHORT_LEN + 1], vec![0; MAX_LEN], b"a".to_vec(), b"a\0".to_vec()];
        let few: Vec<Vec<u8>> = (0..SLOTS as u32 / 8).map(piece).chain(edge.iter().cloned()).collect();
        let many: Vec<Vec<u8>> = (0..SLOTS as u32 * 3).map(piece).chain(edge.iter().cloned()).collect();
        let (slots, other_slots) = (Slots::default(), Slots::default());
        let mut merged = 0;
        for (set, rounds) in [(&few, 3), (&many, 2)] {
            merged = 0;
            for round in 0..rounds {
                for p in set {
                    let mut out = vec![9];
                    get_or_merge(&slots, 1, p, &mut out, |o| {
                        merged += 1;
                        o.extend(ids_of(p))
                    });
                    assert_eq!(&out[1..], &ids_of(p)[..], "{p:?} in round {round}");
                    // Another vocabulary never sees this one's entries.
                    let mut other = Vec::new();
                    get_or_merge(&other_slots, 2, p, &mut other, |o| o.push(u32::MAX));
                    assert!(other == [u32::MAX], "{p:?}");
                }
            }
            if rounds == 3 {
                // With room for all, repeats are answered from the cache (pieces of too many
                // ids, and a few that share a slot, are merged again).
                assert!(merged < few.len() * 2, "{merged} merges for {} pieces x 3", few.len());
            }
        }
        assert!(merged > many.len(), "slots are overwritten");
        // A short piece of too many ids for its slot, and a long piece, are each merged once.
        let third = Slots::default();
        for p in [&b"short"[..], &[b'x'; SHORT_LEN + 5][..]] {
            let mut merges = 0;
            for _ in 0..3 {
                let mut out = Vec::new();
                get_or_merge(&third, 3, p, &mut out, |o| {
                    merges += 1;
                    o.extend(0..MAX_IDS as u32 + 2)
                });
                assert_eq!(out, (0..MAX_IDS as u32 + 2).collect::<Vec<_>>());
            }
            assert_eq!(merges, 1, "{p:?}");
        }
        clear();
        let mut out = Vec::new();
        let mut again = false;
        get_or_merge(&slots, 1, b"a", &mut out, |o| {
            again = true;
            o.push(7)
        });
        assert!(again && out == [7], "clear forgets");
    }

    #[test]
    fn threads_sharing_slots_each_get_their_own_pieces_ids() {
        // Four threads on one table, with pieces of one length that all fall in two slots, taken
        // in the same order, so that threads keep reading slots that others are writing: every answer must be the piece's own
        // ids, never another's (nor a mix of two).
        let slots = Slots::default();
        let ids_of = |p: &[u8]| -> Vec<u32> { (0..1 + p[0] as usize % MAX_IDS).map(|i| u32::from_le_bytes(p[..4].try_into().unwrap()) ^ i as u32).collect() };
        let pieces: Vec<Vec<u8>> = (0u32..)
            .map(|k| (0..12).map(|j| (k.wrapping_mul(40503) >> (j % 4 * 8)) as u8 ^ j as u8).collect::<Vec<u8>>())
            .filter(|p| key_of(p).1 < 2)
            .take(24)
            .collect();
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            for t in 0..4usize {
                let (slots, ids_of, pieces, start) = (&slots, &ids_of, &pieces, &start);
                scope.spawn(move || {
                    start.wait();
                    for i in 0..1_000_000usize {
                        let piece = &pieces[(i + t % 2) % pieces.len()];
                        let mut out = Vec::new();
                        get_or_merge(slots, 7, piece, &mut out, |o| o.extend(ids_of(piece)));
                        assert_eq!(out, ids_of(piece), "thread {t}, piece {piece:?}");
                    }
                });
            }
        });
    }
}
