//! Each thread's cache of the ids of pieces that are not tokens.
//!
//! Text repeats such pieces (identifiers, inflected words, Chinese words that cuts leave whole),
//! so each thread remembers the ids of recent ones, for the last few vocabularies it used. A
//! slot is one cache line that holds the piece's bytes and ids inline: a lookup is a hash and
//! one line compared word by word, and a new entry overwrites the slot, so nothing is allocated
//! and the memory is fixed (`SLOTS` lines per vocabulary and thread). Pieces longer than
//! `SHORT_LEN` bytes, or of more than `MAX_IDS` ids, go to a hash map instead (up to `MAX_LEN`
//! bytes; emptied when it holds `LONG_LIMIT`): long pieces are few, but each costs many merges,
//! and some texts repeat them (rules of box-drawing characters, long Chinese runs).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest piece kept in a slot, in bytes.
const SHORT_LEN: usize = 32;
/// The longest piece kept at all.
pub const MAX_LEN: usize = 256;
/// The most long pieces kept per vocabulary and thread.
const LONG_LIMIT: usize = 1 << 12;
/// The most ids a kept piece may have.
const MAX_IDS: usize = 7;
/// Slots per vocabulary and thread (a power of two): 512 KB.
const SLOTS: usize = 1 << 13;
/// How many vocabularies each thread keeps a cache for.
const VOCABS: usize = 4;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    /// The piece's bytes, zero after its end.
    key: [u64; 4],
    /// The piece's length; 0 marks an empty slot.
    len: u8,
    /// How many of `ids` are the piece's; `IN_MAP`: too many, they are in the hash map.
    n: u8,
    ids: [u32; MAX_IDS],
}

/// A slot's `n` for a short piece of more than `MAX_IDS` ids, kept in the hash map.
const IN_MAP: u8 = u8::MAX;

const EMPTY_SLOT: Slot = Slot { key: [0; 4], len: 0, n: 0, ids: [0; MAX_IDS] };

struct Cache {
    vocab: u64,
    slots: Box<[Slot]>,
    long: rustc_hash::FxHashMap<Box<[u8]>, Box<[u32]>>,
}

thread_local! {
    /// The caches, and the value of EPOCH when they were last emptied.
    static CACHES: RefCell<(u64, Vec<Cache>)> = const { RefCell::new((0, Vec::new())) };
}

/// Raised by `clear`; each thread empties its caches when it sees a new value.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Make every thread forget the pieces it has cached (on its next use of the cache), so the
/// next texts are encoded as at first sight: for benchmarks that repeat one text, and to give
/// the memory back.
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

/// Append the ids of `piece` (1..=`MAX_LEN` bytes) to `out`: from this thread's cache for
/// vocabulary `vocab`, or from `merge`, whose result is then kept.
#[inline]
pub fn get_or_merge(vocab: u64, piece: &[u8], out: &mut Vec<u32>, merge: impl FnOnce(&mut Vec<u32>)) {
    debug_assert!((1..=MAX_LEN).contains(&piece.len()));
    CACHES.with(|cell| {
        let (seen, caches) = &mut *cell.borrow_mut();
        let epoch = EPOCH.load(Ordering::Relaxed);
        if *seen != epoch {
            *seen = epoch;
            *caches = Vec::new();
        }
        let cache = match caches.iter().position(|c| c.vocab == vocab) {
            Some(i) => &mut caches[i],
            None => {
                if caches.len() == VOCABS {
                    caches.remove(0);
                }
                caches.push(Cache {
                    vocab,
                    slots: vec![EMPTY_SLOT; SLOTS].into_boxed_slice(),
                    long: Default::default(),
                });
                caches.last_mut().expect("just pushed")
            }
        };
        if piece.len() > SHORT_LEN {
            if let Some(ids) = cache.long.get(piece) {
                return out.extend_from_slice(ids);
            }
        }
        let (key, at) = if piece.len() <= SHORT_LEN { key_of(piece) } else { ([0; 4], 0) };
        if piece.len() <= SHORT_LEN {
            let slot = &cache.slots[at];
            if slot.len as usize == piece.len() && slot.key == key {
                if slot.n != IN_MAP {
                    return out.extend_from_slice(&slot.ids[..slot.n as usize]);
                }
                if let Some(ids) = cache.long.get(piece) {
                    return out.extend_from_slice(ids);
                }
            }
        }
        let start = out.len();
        merge(out);
        let ids = &out[start..];
        if piece.len() <= SHORT_LEN {
            let slot = &mut cache.slots[at];
            slot.key = key;
            slot.len = piece.len() as u8;
            if ids.len() <= MAX_IDS {
                slot.n = ids.len() as u8;
                slot.ids[..ids.len()].copy_from_slice(ids);
                return;
            }
            slot.n = IN_MAP;
        }
        if cache.long.len() >= LONG_LIMIT {
            cache.long.clear();
        }
        cache.long.insert(piece.into(), ids.into());
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
        let mut merged = 0;
        for (set, rounds) in [(&few, 3), (&many, 2)] {
            merged = 0;
            for round in 0..rounds {
                for p in set {
                    let mut out = vec![9];
                    get_or_merge(1, p, &mut out, |o| {
                        merged += 1;
                        o.extend(ids_of(p))
                    });
                    assert_eq!(&out[1..], &ids_of(p)[..], "{p:?} in round {round}");
                    // Another vocabulary never sees this one's entries.
                    let mut other = Vec::new();
                    get_or_merge(2, p, &mut other, |o| o.push(u32::MAX));
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
        for p in [&b"short"[..], &[b'x'; SHORT_LEN + 5][..]] {
            let mut merges = 0;
            for _ in 0..3 {
                let mut out = Vec::new();
                get_or_merge(3, p, &mut out, |o| {
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
        get_or_merge(1, b"a", &mut out, |o| {
            again = true;
            o.push(7)
        });
        assert!(again && out == [7], "clear forgets");
    }
}
