//! The encoder's two lookups: token bytes → id, in open-addressing tables that hold their keys
//! inline (a hash map keyed by `Vec<u8>` costs three cache misses per lookup, control bytes,
//! bucket and the key's heap bytes, and a `memcmp`; here a lookup is one multiply and, almost
//! always, one cache line), and (left id, right id) → id.

use crate::huge::{HugePages, HugeSlice};
use rustc_hash::FxHashMap;

/// One u64 for a pair of ids; ids stay below `MAX_VOCAB`, so no key is `EMPTY`.
#[inline(always)]
pub fn pair_key(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// A table of u64 keys (never `EMPTY`) to u32 values, linear probing, at most 5/8 full.
#[derive(Clone, Debug)]
struct Table64 {
    slots: HugeSlice<(u64, u32)>,
    shift: u32,
}

const EMPTY: u64 = u64::MAX;

impl Table64 {
    fn with_len(n: usize) -> Self {
        let cap = (n * 8 / 5 + 1).next_power_of_two().max(16);
        Table64 { slots: HugeSlice::filled(cap, (EMPTY, 0)), shift: 64 - cap.trailing_zeros() }
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(MUL) >> self.shift) as usize
    }

    /// Insert or overwrite.
    fn insert(&mut self, key: u64, value: u32) {
        debug_assert_ne!(key, EMPTY);
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let slot = &mut self.slots[i];
            if slot.0 == EMPTY || slot.0 == key {
                *slot = (key, value);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline(always)]
    fn get(&self, key: u64) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            // SAFETY: i is masked to the table's length, a power of two.
            let slot = unsafe { self.slots.get_unchecked(i) };
            if slot.0 == key {
                return Some(slot.1);
            }
            if slot.0 == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Bytes 0..n of a piece of 1 to 7 bytes packed in a u64, with n in the top byte: two pieces
/// get the same key only if they are equal, and no key is `EMPTY`.
#[inline(always)]
pub(crate) fn pack7(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!((1..=7).contains(&n));
    let v = if n >= 4 {
        // Two overlapping 4-byte reads cover all n bytes; the overlap holds the same bytes.
        let lo = u32::from_le_bytes(b[..4].try_into().unwrap()) as u64;
        let hi = u32::from_le_bytes(b[n - 4..].try_into().unwrap()) as u64;
        lo | hi << ((n - 4) * 8)
    } else {
        b[0] as u64 | (b[n / 2] as u64) << (n / 2 * 8) | (b[n - 1] as u64) << ((n - 1) * 8)
    };
    v | (n as u64) << 56
}

/// A table of tokens of 8 to 15 bytes, keyed by their first and last eight bytes (which overlap
/// and together cover the token) and their length; linear probing, at most 5/8 full.
#[derive(Clone, Debug)]
struct Table128 {
    /// (first eight bytes, last eight bytes, id, length); length 0 marks an empty slot.
    slots: HugeSlice<(u64, u64, u32, u32)>,
    shift: u32,
}

impl Table128 {
    fn with_len(n: usize) -> Self {
        let cap = (n * 8 / 5 + 1).next_power_of_two().max(16);
        Table128 { slots: HugeSlice::filled(cap, (0, 0, 0, 0)), shift: 64 - cap.trailing_zeros() }
    }

    #[inline(always)]
    fn key(b: &[u8]) -> (u64, u64, u32) {
        let n = b.len();
        debug_assert!((8..=15).contains(&n));
        let lo = u64::from_le_bytes(b[..8].try_into().unwrap());
        let hi = u64::from_le_bytes(b[n - 8..].try_into().unwrap());
        (lo, hi, n as u32)
    }

    #[inline(always)]
    fn home(&self, (lo, hi, n): (u64, u64, u32)) -> usize {
        ((lo ^ hi.rotate_left(29) ^ n as u64).wrapping_mul(MUL) >> self.shift) as usize
    }

    fn insert(&mut self, b: &[u8], id: u32) {
        let k = Self::key(b);
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        while self.slots[i].3 != 0 && (self.slots[i].0, self.slots[i].1, self.slots[i].3) != k {
            i = (i + 1) & mask;
        }
        self.slots[i] = (k.0, k.1, id, k.2);
    }

    #[inline(always)]
    fn get(&self, b: &[u8]) -> Option<u32> {
        let k = Self::key(b);
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        loop {
            // SAFETY: i is masked to the table's length, a power of two.
            let s = unsafe { self.slots.get_unchecked(i) };
            if (s.0, s.1, s.3) == k {
                return Some(s.2);
            }
            if s.3 == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Token bytes → id. Tokens of up to 15 bytes (nearly all of any vocabulary) live in packed
/// tables; longer ones in a hash map.
#[derive(Clone, Debug)]
pub struct TokenIds {
    short: Table64,
    mid: Table128,
    long: FxHashMap<Box<[u8]>, u32>,
}

impl TokenIds {
    pub fn new(tokens: &[Vec<u8>]) -> Self {
        let count = |r: std::ops::RangeInclusive<usize>| tokens.iter().filter(|t| r.contains(&t.len())).count();
        let mut short = Table64::with_len(count(1..=7));
        let mut mid = Table128::with_len(count(8..=15));
        let mut long = FxHashMap::default();
        for (id, t) in tokens.iter().enumerate() {
            match t.len() {
                0 => {}
                1..=7 => short.insert(pack7(t), id as u32),
                8..=15 => mid.insert(t, id as u32),
                _ => {
                    long.insert(t.as_slice().into(), id as u32);
                }
            }
        }
        TokenIds { short, mid, long }
    }

    #[inline(always)]
    pub fn get(&self, bytes: &[u8]) -> Option<u32> {
        match bytes.len() {
            0 => None,
            1..=7 => self.short.get(pack7(bytes)),
            8..=15 => self.mid.get(bytes),
            _ => self.long.get(bytes).copied(),
        }
    }

    /// Start loading the slot `get(bytes)` will read first, so that the cache miss overlaps
    /// other work (the encoder asks for the next piece's slot while it finishes this one).
    #[inline(always)]
    pub fn prefetch(&self, bytes: &[u8]) {
        let p: *const u8 = match bytes.len() {
            1..=7 => {
                let t = &self.short;
                t.slots.as_ptr().wrapping_add(t.home(pack7(bytes))).cast()
            }
            8..=15 => {
                let t = &self.mid;
                t.slots.as_ptr().wrapping_add(t.home(Table128::key(bytes))).cast()
            }
            _ => return,
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint; it never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }
}

/// (left id, right id) → the id of the token the two spell together. Most of these lookups miss
/// (the pair spells no token), and a miss in a table of inline keys costs a cache line of the
/// whole table, so this stays a hash map, whose misses read only its small array of tags.
#[derive(Clone, Debug)]
pub struct PairIds(hashbrown::HashMap<u64, u32, rustc_hash::FxBuildHasher, HugePages>);

impl PairIds {
    pub fn new(pairs: &[(u32, u32, u32)]) -> Self {
        let mut map = hashbrown::HashMap::with_capacity_and_hasher_in(pairs.len(), Default::default(), HugePages);
        map.extend(pairs.iter().map(|&(l, r, id)| (pair_key(l, r), id)));
        PairIds(map)
    }

    #[inline(always)]
    pub fn get(&self, l: u32, r: u32) -> Option<u32> {
        self.0.get(&pair_key(l, r)).copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_keys_tell_every_short_piece_apart() {
        let mut seen = std::collections::HashMap::new();
        let alphabet = [0u8, 1, 0x61, 0xff];
        for n in 1..=7u32 {
            for mut code in 0..4u32.pow(n) {
                let mut b = Vec::new();
                for _ in 0..n {
                    b.push(alphabet[(code % 4) as usize]);
                    code /= 4;
                }
                let k = pack7(&b);
                assert_ne!(k, EMPTY);
                assert!(seen.insert(k, b.clone()).is_none(), "{b:?} collides");
            }
        }
    }

    #[test]
    fn lookups_find_exactly_the_tokens() {
        let tokens: Vec<Vec<u8>> = (0..=255u8)
            .map(|b| vec![b])
            .chain((0..5000u32).map(|i| format!("t{i}").into_bytes()))
            .chain((0..3000u32).map(|i| format!("a longer token {i}").into_bytes()))
            .chain(std::iter::once(b"a much longer token than the others".to_vec()))
            .collect();
        let ids = TokenIds::new(&tokens);
        for (id, t) in tokens.iter().enumerate() {
            assert_eq!(ids.get(t), Some(id as u32));
        }
        for miss in [&b"t5000"[..], b"", b"t1\0", b"a much longer tokens", b"\0\0", b"a longer token 3000", b"a longer token"] {
            assert_eq!(ids.get(miss), None, "{miss:?}");
        }
        let pairs = PairIds::new(&[(0, 0, 7), (1, 2, 9), (u32::MAX >> 1, 3, 11)]);
        assert_eq!(pairs.get(0, 0), Some(7));
        assert_eq!(pairs.get(1, 2), Some(9));
        assert_eq!(pairs.get(u32::MAX >> 1, 3), Some(11));
        assert_eq!(pairs.get(2, 1), None);
        assert_eq!(pairs.len(), 3);
    }
}
