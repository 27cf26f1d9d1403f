//! The built-in patterns' piece boundaries over ASCII text, found 64 bytes at a time.
//!
//! The scanner in the parent module finds each piece's end from its start, so every piece costs
//! a chain of dependent decisions (which rule, how far the run goes) that the branch predictor
//! guesses piece by piece. Here the bytes of a 64-byte block are first sorted into classes (one
//! bit per byte and class), and from the classes of a byte and the two before it (in runs of
//! whitespace, also of the bytes after it) a bit mask says which bytes start a piece. The
//! pieces then come from the mask's set bits in a tight loop.
//!
//! Where a byte's start bit cannot be settled from that little context, the byte is marked
//! uncertain, and a piece whose span (its bytes after the first, and the byte that would start
//! the next piece) holds an uncertain byte is found by the scanner instead. The scanner ends it
//! at a true boundary, and the next piece goes on from there, so the two never drift apart:
//!
//! - non-ASCII bytes (their classes need the whole character; the scanner takes any piece that
//!   holds one, and the bytes after it start pieces by the rules below);
//! - a blank (whitespace other than a newline) inside a run of whitespace, where the byte after
//!   it, or after its run of blanks, is not ASCII or not in the text (see `starts`);
//! - a digit after a digit (`\p{N}{1,3}` counts digits from the start of the run);
//! - an apostrophe (a contraction joins a word; the scanner ends that word after it);
//! - a `/` right after a newline and the rest of its run of `\r`, `\n` and `/`, plus two bytes:
//!   such a run may be the `[\r\n/]*` tail of a punctuation piece, which ends at a byte that the
//!   rules below would read as continuing it.
//!
//! For every other byte q (c its class, p the class of the byte before, pp the one before that;
//! P is ASCII other than letters, digits and whitespace), q starts a piece when:
//!
//! - c is a letter: p is a lowercase letter and c an uppercase one (`[Upper]*[Lower]+` ends), or
//!   p is a digit or a newline, or p is P that does not start a piece itself (pp is P or a
//!   space), so that p cannot be the letter's prefix. A space or other whitespace before it is
//!   always the last of its run, starts a piece, and is the prefix (`[^\r\n\p{L}\p{N}]?`).
//! - c is a digit: p is not a digit.
//! - c is the first whitespace of its run: unless p is P and c a newline (the `[\r\n/]*` tail).
//! - c is a blank inside a run of whitespace: the byte after it is not whitespace (the last
//!   blank, which goes with what follows or alone), or p is a newline and either nothing but
//!   blanks follow to the run's end or the newlines before it were a punctuation piece's tail.
//!   A newline inside a run never starts a piece.
//! - c is P: p is neither P (the run goes on) nor a space (the ` ?` that starts a P run).
//!
//! These are o200k's rules. cl100k's differ in that a word does not end at a capital, and in
//! that a contraction is a piece of its own (so the byte after an apostrophe is uncertain too);
//! its punctuation's tail takes no `/`. GPT-2's are simpler: only a space goes with what
//! follows it (letters, digits or P), digits run on, newlines are like any other whitespace,
//! and the last byte of a run of whitespace starts a piece.
//!
//! The tests compare this with the scanner and with the regex on long generated texts.

use super::Scan;

/// The patterns, as `pieces`'s parameter.
pub(super) const GPT2: u8 = 0;
pub(super) const CL100K: u8 = 1;
pub(super) const O200K: u8 = 2;

/// One bit per byte of a block, per class.
#[derive(Clone, Copy, Default)]
struct Classes {
    lower: u64,
    upper: u64,
    digit: u64,
    space: u64,      // ' '
    whitespace: u64, // \t \n \v \f \r ' '
    newline: u64,    // \r \n
    apostrophe: u64,
    slash: u64,
    non_ascii: u64,
    other: u64, // P: ASCII that is none of the above classes (bar ' and /, which are P too)
}

impl Classes {
    #[inline(always)]
    fn finish(mut self) -> Self {
        self.other = !(self.non_ascii | self.lower | self.upper | self.digit | self.whitespace);
        self
    }

    /// The classes of `b[..64]`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn of(b: &[u8]) -> Self {
        use std::arch::x86_64::*;
        debug_assert!(b.len() >= 64);
        let mut m = Classes::default();
        for k in 0..4 {
            // SAFETY: SSE2 is part of x86_64; the load reads b[16k..16k + 16], in bounds.
            unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(16 * k).cast());
                let within = |lo: u8, width: u8| {
                    let d = _mm_sub_epi8(v, _mm_set1_epi8(lo as i8));
                    _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(width as i8)), d)
                };
                let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                let bits = |x: __m128i| (_mm_movemask_epi8(x) as u16 as u64) << (16 * k);
                let space = eq(b' ');
                m.non_ascii |= bits(v);
                m.lower |= bits(within(b'a', 25));
                m.upper |= bits(within(b'A', 25));
                m.digit |= bits(within(b'0', 9));
                m.space |= bits(space);
                m.whitespace |= bits(_mm_or_si128(within(b'\t', 4), space));
                m.newline |= bits(_mm_or_si128(eq(b'\n'), eq(b'\r')));
                m.apostrophe |= bits(eq(b'\''));
                m.slash |= bits(eq(b'/'));
            }
        }
        m.finish()
    }

    /// The classes of `b[..64]`, one byte at a time.
    #[cfg(any(test, not(target_arch = "x86_64")))]
    fn of_bytes(b: &[u8]) -> Self {
        let mut m = Classes::default();
        for (k, &c) in b[..64].iter().enumerate() {
            let bit = 1u64 << k;
            let set = |mask: &mut u64, yes: bool| *mask |= if yes { bit } else { 0 };
            set(&mut m.non_ascii, c >= 0x80);
            set(&mut m.lower, c.is_ascii_lowercase());
            set(&mut m.upper, c.is_ascii_uppercase());
            set(&mut m.digit, c.is_ascii_digit());
            set(&mut m.space, c == b' ');
            set(&mut m.whitespace, matches!(c, b'\t'..=b'\r' | b' '));
            set(&mut m.newline, c == b'\n' || c == b'\r');
            set(&mut m.apostrophe, c == b'\'');
            set(&mut m.slash, c == b'/');
        }
        m.finish()
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn of(b: &[u8]) -> Self {
        Self::of_bytes(b)
    }
}

/// Whether at least 16 of the 64 bytes from `b` are not ASCII.
#[inline(always)]
fn mostly_non_ascii(b: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut high = 0u32;
        for k in 0..4 {
            // SAFETY: SSE2 is part of x86_64; the load reads b[16k..16k + 16], in bounds.
            high += unsafe { _mm_movemask_epi8(_mm_loadu_si128(b.as_ptr().add(16 * k).cast())) }.count_ones();
        }
        high >= 16
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        b[..64].iter().filter(|&&c| c >= 0x80).count() >= 16
    }
}

/// What one block hands on to the next.
#[derive(Clone, Copy, Default)]
struct Carry {
    /// The classes of the block (read for the first two bytes of the next).
    classes: Classes,
    /// A `/` run (see `starts`) goes on past the block's end.
    slash_run: bool,
    /// The bits of that run, and the byte past it, in the block.
    slash_region: u64,
    /// A group of newlines that a punctuation piece took goes on past the block's end.
    taken_newlines: bool,
}

impl Carry {
    /// After blocks the scanner went past: the block before is read as bytes of no class (the
    /// rules read them only for the byte after i, i >= the block's start, and as no class they
    /// say that i starts a piece, which it does); a `/` run from before is assumed to go on
    /// (which at worst makes a few more bytes uncertain); newlines taken from before would
    /// only matter up to their group's end, which is not after i.
    fn stale() -> Self {
        Carry { slash_run: true, slash_region: 1 << 63, ..Carry::default() }
    }
}

/// Start bits and uncertain bits of the block with classes `m`, given what the block before
/// handed on, and `next`, the byte after the block (None at the end of the text).
#[inline(always)]
fn starts<const PATTERN: u8>(m: &Classes, carry: &mut Carry, next: Option<u8>) -> (u64, u64) {
    let prev = &carry.classes;
    let p1 = |x: u64, px: u64| (x << 1) | (px >> 63);
    let p2 = |x: u64, px: u64| (x << 2) | (px >> 62);
    let letter = m.lower | m.upper;
    let blank = m.whitespace & !m.newline;
    let p_lower = p1(m.lower, prev.lower);
    let p_digit = p1(m.digit, prev.digit);
    let p_newline = p1(m.newline, prev.newline);
    let p_space = p1(m.space, prev.space);
    let p_white = p1(m.whitespace, prev.whitespace);
    let p_other = p1(m.other, prev.other);
    let pp_other = p2(m.other, prev.other);
    let pp_space = p2(m.space, prev.space);
    // The byte after: whitespace, a blank, or not known here (not ASCII, or past the end).
    let (n_white, n_blank, n_unknown) = match next {
        Some(c) if c < 0x80 => (matches!(c, b'\t'..=b'\r' | b' '), matches!(c, b'\t' | 0x0B | 0x0C | b' '), false),
        _ => (false, false, true),
    };
    let x_white = (m.whitespace >> 1) | (n_white as u64) << 63;
    let x_unknown = (m.non_ascii >> 1) | (n_unknown as u64) << 63;

    // Inside a run of whitespace (the regex's `\s*[\r\n]+`, `\s+(?!\S)` and `\s+`): the last
    // blank before what follows the run starts a piece; so does the first blank after the
    // run's last newline (its blanks go on to the run's end), and the first blank after newlines
    // that a punctuation piece took as its `[\r\n/]*` tail. Whether a run of blanks goes on to
    // the end of the whitespace comes from its last byte, carried down the run in reversed bit
    // order (adding one at the low end of a run of ones carries through the run).
    let reversed = blank.reverse_bits();
    let fill = |ends: u64| ((reversed.wrapping_add(ends.reverse_bits()) ^ reversed) & reversed).reverse_bits();
    let to_the_end = fill(blank & !x_white);
    let not_known = fill(blank & (x_unknown | (n_blank as u64) << 63));
    let taken = m.newline & p_other;
    let (sum, overflow) = m.newline.overflowing_add(taken | carry.taken_newlines as u64);
    carry.taken_newlines = overflow;
    let after_taken = sum & !m.newline;
    let first_blank = blank & p_newline;

    // A contraction is a piece of its own here, which starts at the apostrophe: the byte after
    // it, in the contraction's span, sends the piece to the scanner.
    let p_apostrophe = p1(m.apostrophe, prev.apostrophe);
    if PATTERN == GPT2 {
        // ` ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`: a space goes with what
        // follows it; in a run of whitespace, the last byte starts a piece of its own.
        let start = (letter & !p1(letter, prev.lower | prev.upper) & !p_space)
            | (m.digit & !p_digit & !p_space)
            | (m.whitespace & (!p_white | !x_white))
            | (m.other & !(p_other | p_space));
        let uncertain = m.non_ascii | (m.whitespace & p_white & x_unknown) | m.apostrophe | p_apostrophe;
        carry.classes = *m;
        return (start, uncertain);
    }
    let word = if PATTERN == O200K {
        // [Upper]*[Lower]+ ends where a capital follows a small letter.
        letter & ((m.upper & p_lower) | p_digit | p_newline | (p_other & (pp_other | pp_space)))
    } else {
        letter & (p_digit | p_newline | (p_other & (pp_other | pp_space)))
    };
    let start = word
        | (m.digit & !p_digit)
        | (m.whitespace & !p_white & !(p_other & m.newline))
        | (blank & p_white & (!x_white | (first_blank & (to_the_end | after_taken))))
        | (m.other & !(p_other | p_space));
    let uncertain = m.non_ascii
        | (blank & p_white & x_unknown)
        | (first_blank & not_known)
        | (m.digit & p_digit)
        | m.apostrophe;
    carry.classes = *m;
    if PATTERN == CL100K {
        // Its contractions are pieces of their own; its punctuation's tail is `[\r\n]*+`.
        return (start, uncertain | p_apostrophe);
    }

    // A `/` right after a newline, to the end of its run of [\r\n/] and one byte past it (the
    // run continues from the block before when `slash_run`): adding the seeds to the run's bits
    // carries through each run and sets the bit just past it.
    let run = m.newline | m.slash;
    let seeds = (m.slash & p_newline) | carry.slash_run as u64;
    let (sum, overflow) = run.overflowing_add(seeds);
    let region = (sum ^ run) | seeds;
    carry.slash_run = overflow;
    let region_after = (region << 1) | (carry.slash_region >> 63);
    carry.slash_region = region;
    (start, uncertain | region | region_after)
}

/// The scanner's pieces from `i` (a piece boundary) until one ends at or after `limit`: where
/// the last one ends. Kept out of line, so that the block loop stays small.
#[inline(never)]
fn scan_to<'t, const PATTERN: u8>(scan: &Scan<'_>, text: &'t str, f: &mut impl FnMut(&'t str), mut i: usize, limit: usize) -> usize {
    while i < limit {
        let end = match PATTERN {
            GPT2 => scan.ascii_word(i).unwrap_or_else(|| scan.gpt2(i)),
            CL100K => scan.ascii_word(i).unwrap_or_else(|| scan.cl100k(i)),
            _ => scan.o200k_ascii(i).unwrap_or_else(|| scan.o200k(i)),
        };
        f(&text[i..end]);
        i = end;
    }
    i
}

/// Call `f` on each piece of `text` by `PATTERN` (`GPT2`, `CL100K` or `O200K`), in order.
#[inline(always)]
pub(super) fn pieces<'t, const PATTERN: u8>(scan: &Scan<'_>, text: &'t str, f: &mut impl FnMut(&'t str)) {
    let b = scan.b;
    let n = b.len();
    let (mut i, mut base) = (0usize, 0usize);
    let mut carry = Carry::default();
    // The piece from `i` (begun in an earlier block) spans an uncertain byte.
    let mut pending = false;
    while base + 64 <= n {
        if i < base + 64 && mostly_non_ascii(&b[base..]) {
            // Little that the blocks can settle (Chinese text): the scanner, for four blocks.
            i = scan_to::<PATTERN>(scan, text, f, i, (base + 256).min(n));
            pending = false;
        }
        if i >= base + 64 {
            // The scanner went past this block: what it would hand on is not worked out.
            carry = Carry::stale();
            base += 64;
            continue;
        }
        let m = Classes::of(&b[base..]);
        let (start, uncertain) = starts::<PATTERN>(&m, &mut carry, b.get(base + 64).copied());
        while i < base + 64 {
            // The bits after i in this block.
            let after = if i >= base { (!0u64 << (i - base)) << 1 } else { !0u64 };
            let next = start & after;
            if next == 0 {
                pending |= uncertain & after != 0;
                break;
            }
            let at = next.trailing_zeros();
            let span = after & (((1u64 << at) << 1).wrapping_sub(1));
            if pending || uncertain & span != 0 {
                i = scan_to::<PATTERN>(scan, text, f, i, i + 1);
                // A piece the scanner ended in an earlier block: the uncertain bits from there
                // to this block are gone, so the scanner takes the next piece too.
                pending = i < base;
            } else {
                let end = base + at as usize;
                f(&text[i..end]);
                i = end;
            }
        }
        base += 64;
    }
    scan_to::<PATTERN>(scan, text, f, i, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_classes_equal_bytewise_ones_and_the_class_table() {
        let table = &super::super::classes().table;
        let bytes: Vec<u8> = (0..=255u8).collect();
        for chunk in bytes.chunks(64) {
            let (a, b) = (Classes::of(chunk), Classes::of_bytes(chunk));
            for (x, y) in [
                (a.lower, b.lower),
                (a.upper, b.upper),
                (a.digit, b.digit),
                (a.space, b.space),
                (a.whitespace, b.whitespace),
                (a.newline, b.newline),
                (a.apostrophe, b.apostrophe),
                (a.slash, b.slash),
                (a.non_ascii, b.non_ascii),
                (a.other, b.other),
            ] {
                assert_eq!(x, y, "block from byte {}", chunk[0]);
            }
        }
        for c in 0..128u8 {
            let f = table[c as usize];
            assert_eq!(f & super::super::S != 0, matches!(c, b'\t'..=b'\r' | b' '), "byte {c}");
            assert_eq!(f & super::super::L != 0, c.is_ascii_alphabetic(), "byte {c}");
            assert_eq!(f & super::super::N != 0, c.is_ascii_digit(), "byte {c}");
        }
    }
}

#[cfg(test)]
mod check {
    use super::*;

    /// The pieces of `text` from the blocks and from the scanner alone: the first difference.
    fn first_difference<const PATTERN: u8>(text: &str) -> Option<String> {
        let scan = Scan { b: text.as_bytes(), table: &super::super::classes().table };
        let mut ours = Vec::new();
        pieces::<PATTERN>(&scan, text, &mut |p| ours.push(p));
        let mut theirs = Vec::new();
        scan_to::<PATTERN>(&scan, text, &mut |p| theirs.push(p), 0, text.len());
        let k = ours.iter().zip(&theirs).position(|(a, b)| a != b).or((ours.len() != theirs.len()).then(|| ours.len().min(theirs.len())))?;
        let lo = k.saturating_sub(4);
        Some(format!("piece {k}: blocks {:?} scanner {:?}", &ours[lo..(k + 3).min(ours.len())], &theirs[lo..(k + 3).min(theirs.len())]))
    }

    /// Long texts (so that many pieces cross 64-byte blocks) over an alphabet heavy in the
    /// bytes the block rules single out, each in several densities: the blocks give the
    /// scanner's pieces on all, and the regex's on some.
    #[test]
    fn gpt2_long_texts_split_as_the_scanner_and_the_regex_do() {
        long_generated_texts::<GPT2>(super::super::GPT2_PATTERN);
    }

    #[test]
    fn cl100k_long_texts_split_as_the_scanner_and_the_regex_do() {
        long_generated_texts::<CL100K>(super::super::CL100K_PATTERN);
    }

    #[test]
    fn o200k_long_texts_split_as_the_scanner_and_the_regex_do() {
        long_generated_texts::<O200K>(super::super::O200K_PATTERN);
    }

    fn long_generated_texts<const PATTERN: u8>(pattern: &str) {
        let alphabets: [&[&str]; 4] = [
            &["a", "b", "z", "A", "Q", "Z", " ", " ", "\n", "\r", "\t", "\x0b", "\x0c", "'", "/", ".", ",", "(", "-", "0", "7", "s", "t", "l", "e", "\0", "\x1f", "\x7f"],
            &["the", " cat", "Sat", "ON", " ", "  ", "\n", ".\n", ".\n/", "\n/*", " */", "'s", "'LL", "'re", "0x1f", "123456", "é", "中文", "\u{a0}", "\u{85}", "\u{301}", "ǅ", "—", "…", "“", "’", "٣", "\u{3000}", "\r\n", "/", "\t\t", "!?"],
            &["word", " word", "Word", "WORD", "wordWord", ", ", ". ", ".\n\n", "\n", "    ", "(", ")", "\"", "'", "don't", "1", "22", "333", "/"],
            &["x", "/", "\n", ".", " ", "'", "d", "9"],
        ];
        let regex = fancy_regex::Regex::new(pattern).unwrap();
        let cases = std::env::var("BPE_RUST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000usize);
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for k in 0..cases {
            let alphabet = alphabets[k % alphabets.len()];
            let len = 1 + (next() % 160) as usize;
            let text: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            if let Some(d) = first_difference::<PATTERN>(&text) {
                panic!("{text:?}: {d}");
            }
            if k % 8 == 0 {
                let scan = Scan { b: text.as_bytes(), table: &super::super::classes().table };
                let mut ours = Vec::new();
                pieces::<PATTERN>(&scan, &text, &mut |p| ours.push(p));
                let theirs: Vec<&str> = regex.find_iter(&text).map(|m| m.unwrap().as_str()).collect();
                assert_eq!(ours, theirs, "{text:?}");
            }
        }
    }
}
