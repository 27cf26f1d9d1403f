//! Pre-tokenization: cutting text into the pieces that BPE merges never cross.
//!
//! The built-in patterns (`gpt2`, `cl100k`, `o200k`) split exactly as tiktoken's regexes do
//! (the Python `regex` module and fancy-regex are the oracles in the tests): each runs through a
//! hand-written scanner that follows the regex's alternatives in order, backtracking where the
//! regex would. Any other regex goes through fancy-regex, slower but general.
//!
//! Every built-in pattern covers every character, so the pieces tile the text. A user's regex may
//! leave gaps; the gaps become pieces of their own, so no byte of the input is ever dropped.

use crate::error::{Error, Result};
use std::sync::OnceLock;

mod blocks;

/// GPT-2's pattern, as tiktoken writes it (possessive quantifiers; same splits as the original).
pub const GPT2_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// GPT-2's pattern as first published.
pub const GPT2_PATTERN_ORIGINAL: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// cl100k_base's pattern, as tiktoken writes it.
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// o200k_base's pattern, as tiktoken writes it.
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+"
);
/// Resolve a pattern name (`gpt2`, `r50k_base`, `cl100k`, `cl100k_base`, `o200k`, `o200k_base`)
/// to its regex text; anything else is taken as a regex already.
pub fn resolve_pattern(name_or_regex: &str) -> &str {
    match name_or_regex {
        "gpt2" | "r50k" | "r50k_base" | "p50k_base" => GPT2_PATTERN,
        "cl100k" | "cl100k_base" => CL100K_PATTERN,
        "o200k" | "o200k_base" => O200K_PATTERN,
        other => other,
    }
}

// Character classes, read from the regex crate's own Unicode tables so that the scanners agree
// with fancy-regex (and so with tiktoken) on every code point.
const L: u8 = 1; // \p{L}
const N: u8 = 2; // \p{N}
const S: u8 = 4; // \s
const UPPER: u8 = 8; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
const LOWER: u8 = 16; // [\p{Ll}\p{Lm}\p{Lo}\p{M}]

struct Classes {
    table: Vec<u8>, // one byte of flags per code point
}

fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::Parser::new().parse(pattern).expect("built-in class parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
        }
        _ => unreachable!("built-in class is a Unicode class"),
    }
}

fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let mut table = vec![0u8; 0x110000];
        for (pattern, flag) in [
            (r"\p{L}", L),
            (r"\p{N}", N),
            (r"\s", S),
            (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPER),
            (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWER),
        ] {
            for (lo, hi) in class_ranges(pattern) {
                for slot in &mut table[lo as usize..=hi as usize] {
                    *slot |= flag;
                }
            }
        }
        Classes { table }
    })
}

/// Decode the char starting at byte `i` of valid UTF-8: (code point, byte length).
#[inline(always)]
fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let b0 = b[i] as u32;
    if b0 < 0x80 {
        (b0, 1)
    } else if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | (b[i + 1] as u32 & 0x3F), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F), 3)
    } else {
        (
            ((b0 & 0x07) << 18)
                | ((b[i + 1] as u32 & 0x3F) << 12)
                | ((b[i + 2] as u32 & 0x3F) << 6)
                | (b[i + 3] as u32 & 0x3F),
            4,
        )
    }
}

/// The end of the run of ASCII letters (`ANY_CASE`) or lowercase letters from `j`. Sixteen
/// bytes at a time where there are sixteen, so a word costs one compare and no loop exit that
/// the branch predictor must guess.
#[inline(always)]
fn ascii_run<const ANY_CASE: bool>(b: &[u8], mut j: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while j + 16 <= b.len() {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; the load reads b[j..j + 16], which is in bounds.
        let stop = unsafe {
            let v = _mm_loadu_si128(b.as_ptr().add(j).cast());
            let v = if ANY_CASE { _mm_or_si128(v, _mm_set1_epi8(0x20)) } else { v };
            // A letter is a byte whose distance above `a` is at most 25 (unsigned).
            let d = _mm_sub_epi8(v, _mm_set1_epi8(b'a' as i8));
            let letter = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(25)), d);
            !(_mm_movemask_epi8(letter) as u32) & 0xFFFF
        };
        if stop != 0 {
            return j + stop.trailing_zeros() as usize;
        }
        j += 16;
    }
    let letter = |c: u8| if ANY_CASE { c.is_ascii_alphabetic() } else { c.is_ascii_lowercase() };
    while j < b.len() && letter(b[j]) {
        j += 1;
    }
    j
}

struct Scan<'a> {
    b: &'a [u8],
    table: &'a [u8],
}

impl<'a> Scan<'a> {
    #[inline(always)]
    fn at(&self, i: usize) -> (u32, usize, u8) {
        let (c, len) = decode(self.b, i);
        (c, len, self.table[c as usize])
    }

    /// End of the run of chars from `i` whose flags satisfy `keep`.
    #[inline(always)]
    fn run(&self, mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
        while i < self.b.len() {
            let (_, len, f) = self.at(i);
            if !keep(f) {
                break;
            }
            i += len;
        }
        i
    }

    /// The whitespace run from `i`: (end, start of its last char, end of its last \r or \n).
    #[inline(always)]
    fn whitespace(&self, i: usize) -> (usize, usize, Option<usize>) {
        let (mut j, mut last, mut newline) = (i, i, None);
        while j < self.b.len() {
            let (c, len, f) = self.at(j);
            if f & S == 0 {
                break;
            }
            if c == 0x0A || c == 0x0D {
                newline = Some(j + len);
            }
            last = j;
            j += len;
        }
        (j, last, newline)
    }

    /// `\s++$|\s+(?!\S)|\s` (and the `\s+` of the original GPT-2 form) from whitespace at `i`.
    #[inline(always)]
    fn trailing_whitespace(&self, i: usize, end: usize, last: usize) -> usize {
        if end == self.b.len() || last == i {
            end
        } else {
            last
        }
    }

    /// `\p{N}{1,3}` after a first digit that ends at `j`: the end of up to two more.
    #[inline(always)]
    fn digits(&self, mut j: usize) -> usize {
        for _ in 0..2 {
            if j >= self.b.len() || self.at(j).2 & N == 0 {
                break;
            }
            j += self.at(j).1;
        }
        j
    }

    /// ` ?[^\s\p{L}\p{N}]+` then any bytes `tail` accepts (`[\r\n]*` or `[\r\n/]*`), from `i`
    /// whose char has flags `f0`: the end, or None if it does not match here.
    #[inline(always)]
    fn punctuation(&self, i: usize, f0: u8, tail: impl Fn(u8) -> bool) -> Option<usize> {
        let b = self.b;
        let other = |f: u8| f & (L | N | S) == 0;
        let start = if b[i] == b' ' && i + 1 < b.len() && other(self.at(i + 1).2) {
            i + 1
        } else if other(f0) {
            i
        } else {
            return None;
        };
        let mut j = self.run(start, other);
        while j < b.len() && tail(b[j]) {
            j += 1;
        }
        Some(j)
    }

    /// The common case of GPT-2 and cl100k, ` ?[A-Za-z]+` ending before an ASCII byte that is
    /// not a letter: its end, or None to take the general path (which gives the same end here).
    #[inline(always)]
    fn ascii_word(&self, i: usize) -> Option<usize> {
        let b = self.b;
        let s = i + (b[i] == b' ') as usize;
        let j = ascii_run::<true>(b, s);
        (j > s && (j == b.len() || b[j] < 0x80)).then_some(j)
    }

    /// The o200k piece at `i` where it is made of ASCII and the bytes around it settle it
    /// without the general path: a word ` ?[A-Z]?[a-z]+` after at most one prefix character,
    /// up to three digits, a run of punctuation, or a run of whitespace. None where the general
    /// path must decide (a non-ASCII byte next to it, capitals, a contraction).
    #[inline(always)]
    fn o200k_ascii(&self, i: usize) -> Option<usize> {
        let (b, n) = (self.b, self.b.len());
        let c = b[i];
        if c >= 0x80 {
            return None;
        }
        let f = self.table[c as usize];
        // [^\r\n\p{L}\p{N}]?[Upper]*[Lower]+ in its common form, ending before an ASCII byte
        // that is not a lowercase letter or an apostrophe.
        let s = i + (f & (L | N) == 0 && c != b'\n' && c != b'\r') as usize;
        if s < n && b[s].is_ascii_alphabetic() {
            let lower = s + b[s].is_ascii_uppercase() as usize;
            let j = ascii_run::<false>(b, lower);
            return (j > lower && (j == n || (b[j] < 0x80 && b[j] != b'\'')))
                .then_some(j);
        }
        // \p{N}{1,3}, where what follows is ASCII.
        if f & N != 0 {
            let mut j = i + 1;
            while j < n && j < i + 3 && b[j].is_ascii_digit() {
                j += 1;
            }
            return (j == n || j == i + 3 || b[j] < 0x80).then_some(j);
        }
        // Punctuation or whitespace, whose rules come after those above. A prefix character
        // starts an earlier rule only with a letter after it, and that letter is neither an
        // ASCII one (taken above) nor, past this check, any other.
        if i + 1 < n && b[i + 1] >= 0x80 {
            return None;
        }
        Some(self.punctuation(i, f, |b| matches!(b, b'\r' | b'\n' | b'/')).unwrap_or_else(|| self.o200k_whitespace(i)))
    }

    /// `\s*[\r\n]+ | \s+(?!\S) | \s+`, o200k's last rules, from whitespace at `i`.
    #[inline(always)]
    fn o200k_whitespace(&self, i: usize) -> usize {
        let (end, last, newline) = self.whitespace(i);
        newline.unwrap_or_else(|| self.trailing_whitespace(i, end, last))
    }

    /// One GPT-2 piece starting at `i` (< len): its end.
    fn gpt2(&self, i: usize) -> usize {
        let b = self.b;
        if b[i] == b'\'' && i + 1 < b.len() {
            match b[i + 1] {
                b's' | b't' | b'm' | b'd' => return i + 2,
                b'r' | b'v' if b.get(i + 2) == Some(&b'e') => return i + 3,
                b'l' if b.get(i + 2) == Some(&b'l') => return i + 3,
                _ => {}
            }
        }
        let (_, _, f0) = self.at(i);
        // ` ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+`: an optional leading space (U+0020 only)
        let (start, f) = if b[i] == b' ' && i + 1 < b.len() { (i + 1, self.at(i + 1).2) } else { (i, f0) };
        if f & L != 0 {
            return self.run(start, |f| f & L != 0);
        }
        if f & N != 0 {
            return self.run(start, |f| f & N != 0);
        }
        if f & (L | N | S) == 0 {
            return self.run(start, |f| f & (L | N | S) == 0);
        }
        let (end, last, _) = self.whitespace(i);
        self.trailing_whitespace(i, end, last)
    }

    /// One cl100k piece starting at `i` (< len): its end.
    fn cl100k(&self, i: usize) -> usize {
        let b = self.b;
        let n = b.len();
        if b[i] == b'\'' && i + 1 < n {
            // '(?i:[sdmt]|ll|ve|re): case-insensitive, so U+017F (long s) counts as s.
            let (c1, l1, _) = self.at(i + 1);
            match c1 {
                0x73 | 0x53 | 0x17F | 0x64 | 0x44 | 0x6D | 0x4D | 0x74 | 0x54 => return i + 1 + l1,
                _ => {}
            }
            if i + 2 < n {
                let pair = (b[i + 1].to_ascii_lowercase(), b[i + 2].to_ascii_lowercase());
                if matches!(pair, (b'l', b'l') | (b'v', b'e') | (b'r', b'e')) {
                    return i + 3;
                }
            }
        }
        let (c0, l0, f0) = self.at(i);
        // [^\r\n\p{L}\p{N}]?+\p{L}++
        if f0 & L != 0 {
            return self.run(i + l0, |f| f & L != 0);
        }
        if c0 != 0x0A && c0 != 0x0D && f0 & N == 0 && i + l0 < n && self.at(i + l0).2 & L != 0 {
            return self.run(i + l0, |f| f & L != 0);
        }
        // \p{N}{1,3}+
        if f0 & N != 0 {
            return self.digits(i + l0);
        }
        // ` ?[^\s\p{L}\p{N}]++[\r\n]*+`
        if let Some(end) = self.punctuation(i, f0, |b| b == b'\r' || b == b'\n') {
            return end;
        }
        // \s++$ | \s*[\r\n] | \s+(?!\S) | \s
        let (end, last, newline) = self.whitespace(i);
        if end == n {
            return n;
        }
        if let Some(after_newline) = newline {
            return after_newline;
        }
        self.trailing_whitespace(i, end, last)
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `i`: the end of the contraction, or `i`.
    #[inline(always)]
    fn contraction(&self, i: usize) -> usize {
        let b = self.b;
        if i + 1 >= b.len() || b[i] != b'\'' {
            return i;
        }
        let (c1, l1, _) = self.at(i + 1);
        match c1 {
            0x73 | 0x53 | 0x17F | 0x74 | 0x54 | 0x6D | 0x4D | 0x64 | 0x44 => return i + 1 + l1,
            _ => {}
        }
        if i + 2 < b.len() {
            let pair = (b[i + 1].to_ascii_lowercase(), b[i + 2].to_ascii_lowercase());
            if matches!(pair, (b'r', b'e') | (b'v', b'e') | (b'l', b'l')) {
                return i + 3;
            }
        }
        i
    }

    /// `[Upper]*[Lower]+` from `s`, as a backtracking engine matches it: the U run as long as it
    /// goes, then back off to the last place where a Lower char can start the W run.
    #[inline(always)]
    fn upper_then_lower(&self, s: usize) -> Option<usize> {
        let (mut j, mut last_lower) = (s, None);
        while j < self.b.len() {
            let (_, len, f) = self.at(j);
            if f & UPPER == 0 {
                break;
            }
            if f & LOWER != 0 {
                last_lower = Some(j + len);
            }
            j += len;
        }
        if j < self.b.len() && self.at(j).2 & LOWER != 0 {
            return Some(self.run(j, |f| f & LOWER != 0));
        }
        last_lower
    }

    /// One o200k piece starting at `i` (< len): its end.
    fn o200k(&self, i: usize) -> usize {
        let b = self.b;
        let n = b.len();
        let (c0, l0, f0) = self.at(i);
        let prefix = c0 != 0x0A && c0 != 0x0D && f0 & (L | N) == 0; // [^\r\n\p{L}\p{N}]
        // [^\r\n\p{L}\p{N}]?[Upper]*[Lower]+(?i:'s|…)?
        if prefix && i + l0 < n {
            if let Some(e) = self.upper_then_lower(i + l0) {
                return self.contraction(e);
            }
        }
        if let Some(e) = self.upper_then_lower(i) {
            return self.contraction(e);
        }
        // [^\r\n\p{L}\p{N}]?[Upper]+[Lower]*(?i:'s|…)?
        if prefix && i + l0 < n && self.at(i + l0).2 & UPPER != 0 {
            let e = self.run(self.run(i + l0, |f| f & UPPER != 0), |f| f & LOWER != 0);
            return self.contraction(e);
        }
        if f0 & UPPER != 0 {
            let e = self.run(self.run(i, |f| f & UPPER != 0), |f| f & LOWER != 0);
            return self.contraction(e);
        }
        // \p{N}{1,3}
        if f0 & N != 0 {
            return self.digits(i + l0);
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
        if let Some(end) = self.punctuation(i, f0, |b| matches!(b, b'\r' | b'\n' | b'/')) {
            return end;
        }
        self.o200k_whitespace(i)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Gpt2,
    Cl100k,
    O200k,
}

enum Kind {
    Builtin(Builtin),
    Custom(fancy_regex::Regex),
}

/// A compiled pre-tokenizer.
pub struct Pretokenizer {
    pattern: String,
    kind: Kind,
}

impl Clone for Pretokenizer {
    fn clone(&self) -> Self {
        Pretokenizer::new(&self.pattern).expect("pattern compiled before")
    }
}

impl std::fmt::Debug for Pretokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pretokenizer({:?})", self.pattern)
    }
}

impl Pretokenizer {
    /// Compile a pattern: a built-in name, a built-in's regex text (either form), or any regex.
    pub fn new(name_or_regex: &str) -> Result<Self> {
        let pattern = resolve_pattern(name_or_regex);
        let kind = if pattern == GPT2_PATTERN || pattern == GPT2_PATTERN_ORIGINAL {
            Kind::Builtin(Builtin::Gpt2)
        } else if pattern == CL100K_PATTERN {
            Kind::Builtin(Builtin::Cl100k)
        } else if pattern == O200K_PATTERN {
            Kind::Builtin(Builtin::O200k)
        } else {
            if pattern.is_empty() {
                return Err(Error::Pattern("the pattern is empty".into()));
            }
            let regex = fancy_regex::Regex::new(pattern)
                .map_err(|e| Error::Pattern(format!("invalid regex {pattern:?}: {e}")))?;
            match regex.is_match("") {
                Ok(false) => {}
                Ok(true) => {
                    return Err(Error::Pattern(format!(
                        "the regex {pattern:?} matches the empty string; every piece must hold at least one character"
                    )))
                }
                Err(e) => return Err(Error::Pattern(format!("invalid regex {pattern:?}: {e}"))),
            }
            Kind::Custom(regex)
        };
        if matches!(kind, Kind::Builtin(_)) {
            classes();
        }
        Ok(Pretokenizer { pattern: pattern.to_string(), kind })
    }

    /// The regex text of this pre-tokenizer.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether a long text may be cut just before byte `at` without changing any piece:
    /// true for the built-in patterns where `at` starts an ASCII letter after a lone newline
    /// (itself after a visible ASCII char), or a space between two ASCII letters. No piece of
    /// theirs crosses such a point, and what precedes it splits the same at the end of a text.
    pub fn is_safe_cut(&self, text: &[u8], at: usize) -> bool {
        if matches!(self.kind, Kind::Custom(_)) || at < 2 || at + 1 >= text.len() {
            return false;
        }
        let (pp, p, c, n) = (text[at - 2], text[at - 1], text[at], text[at + 1]);
        (p == b'\n' && pp.is_ascii_graphic() && c.is_ascii_alphabetic())
            || (c == b' ' && p.is_ascii_alphabetic() && n.is_ascii_alphabetic())
    }

    /// Call `f` on each piece of `text`, in order; the pieces concatenate to `text`.
    pub fn split<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) -> Result<()> {
        let b = text.as_bytes();
        match &self.kind {
            Kind::Builtin(which) => {
                let scan = Scan { b, table: &classes().table };
                // One loop per pattern, so each scanner inlines into its own.
                match which {
                    Builtin::Gpt2 => blocks::pieces::<{ blocks::GPT2 }>(&scan, text, &mut f),
                    Builtin::Cl100k => blocks::pieces::<{ blocks::CL100K }>(&scan, text, &mut f),
                    Builtin::O200k => blocks::pieces::<{ blocks::O200K }>(&scan, text, &mut f),
                }
            }
            Kind::Custom(regex) => {
                let mut covered = 0;
                for m in regex.find_iter(text) {
                    let m = m.map_err(|e| Error::Pattern(format!("regex {:?} failed: {e}", self.pattern)))?;
                    if m.start() == m.end() {
                        continue;
                    }
                    if m.start() > covered {
                        f(&text[covered..m.start()]);
                    }
                    f(m.as_str());
                    covered = m.end();
                }
                if covered < text.len() {
                    f(&text[covered..]);
                }
            }
        }
        Ok(())
    }

    /// The pieces of `text`, collected.
    pub fn pieces<'t>(&self, text: &'t str) -> Result<Vec<&'t str>> {
        let mut out = Vec::new();
        self.split(text, |p| out.push(p))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle<'t>(re: &fancy_regex::Regex, text: &'t str) -> Vec<&'t str> {
        re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
    }

    /// A small deterministic generator of nasty text: mixes of classes the patterns care about.
    fn random_texts(seed: u64, count: usize) -> Vec<String> {
        let alphabet = "aZ sS'tlLvVreEdDmMT\n\r\t\u{a0}\u{2003}\u{3000}109٣²Ⅻ.,!?/-_(\\#\u{0}\u{1f}\u{7f}é\u{301}\u{17f}ǅʰ中文😀\u{200b}\u{85}\u{b}\u{c}";
        random_texts_of(alphabet, 24, seed, count)
    }

    /// Texts of up to `max_len` characters drawn from `alphabet`.
    fn random_texts_of(alphabet: &str, max_len: u64, seed: u64, count: usize) -> Vec<String> {
        let alphabet: Vec<char> = alphabet.chars().collect();
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = (next() % max_len) as usize;
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
            })
            .collect()
    }

    fn check_against(name: &str, patterns: &[&str]) {
        let pre = Pretokenizer::new(name).unwrap();
        let oracles: Vec<fancy_regex::Regex> = patterns.iter().map(|p| fancy_regex::Regex::new(p).unwrap()).collect();
        // BPE_RUST_CASES texts (20,000 by default; a deep run sets more).
        let cases = std::env::var("BPE_RUST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
        // Long runs of letters too, for the scanners that look at 16 bytes at a time.
        let letters = random_texts_of("abcdefgxyzABZ  '.\n1é中文にㄱ，Ⅻ", 80, 0xD1B54A32D192ED03, cases / 4);
        for text in random_texts(0x9E3779B97F4A7C15, cases).into_iter().chain(letters) {
            let ours = pre.pieces(&text).unwrap();
            for (re, pattern) in oracles.iter().zip(patterns) {
                assert_eq!(ours, oracle(re, &text), "{name} on {text:?} against {pattern}");
            }
        }
    }

    #[test]
    fn gpt2_equals_both_regex_forms() {
        check_against("gpt2", &[GPT2_PATTERN, GPT2_PATTERN_ORIGINAL]);
    }

    #[test]
    fn cl100k_equals_regex() {
        check_against("cl100k", &[CL100K_PATTERN]);
    }

    #[test]
    fn o200k_equals_regex() {
        check_against("o200k", &[O200K_PATTERN]);
    }

    #[test]
    fn hand_worked_gpt2_pieces() {
        let pre = Pretokenizer::new("gpt2").unwrap();
        assert_eq!(
            pre.pieces("Hello world's  end\n\n x").unwrap(),
            vec!["Hello", " world", "'s", " ", " end", "\n\n", " x"]
        );
    }

    #[test]
    fn custom_regex_keeps_gaps_and_rejects_empty_matches() {
        let pre = Pretokenizer::new(r"\w+").unwrap();
        assert_eq!(pre.pieces("ab, cd").unwrap(), vec!["ab", ", ", "cd"]);
        assert!(matches!(Pretokenizer::new(r"\w*"), Err(Error::Pattern(_))));
        assert!(matches!(Pretokenizer::new(r"(unclosed"), Err(Error::Pattern(_))));
    }

    #[test]
    fn safe_cuts_do_not_change_pieces() {
        let text = "alpha beta\ngamma  delta\n\nepsilon zeta's  x\nyz.\nab!\r\ncd \n ef\tgh";
        for name in ["gpt2", "cl100k", "o200k"] {
            let pre = Pretokenizer::new(name).unwrap();
            let whole = pre.pieces(text).unwrap();
            for at in 0..text.len() {
                if pre.is_safe_cut(text.as_bytes(), at) {
                    let mut parts = pre.pieces(&text[..at]).unwrap();
                    parts.extend(pre.pieces(&text[at..]).unwrap());
                    assert_eq!(parts, whole, "{name} cut at {at}");
                }
            }
        }
    }
}
