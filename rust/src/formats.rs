//! Tokenizer files: our own `.bpe` text format, and atomic writing.
//!
//! A `.bpe` file, version 1, is plain UTF-8 text:
//!
//! ```text
//! bpe-tokenizer 1
//! pattern "<the pre-tokenizer regex, as a JSON string>"
//! special 50256 "<|endoftext|>"          (zero or more)
//! bytes 33 34 …                           (optional: the byte of ids 0..=255 when not 0..=255)
//! merges 50000
//! 32 116	# " t"                          (left id, right id; the new token's id is 256 + line)
//! ```
//!
//! Lines starting with `#`, and everything after a tab on a merge line, are for people only.
//!
//! A file of a few lines can spell enormous tokens (each merge may double the longest one), so
//! the reader refuses a file whose tokens would take more than [`MAX_TOKEN_BYTES`] in all.

// The example above shows a merge line as written, with its tab.
#![allow(clippy::tabs_in_doc_comments)]

use crate::encode::Tokenizer;
use crate::error::{Error, Result};
use crate::pretokenize::Pretokenizer;
use crate::vocab::{Vocab, IDENTITY};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

pub const MAGIC: &str = "bpe-tokenizer";
pub const VERSION: u32 = 1;
/// The most bytes the tokens of a `.bpe` file may spell in all: far above any real vocabulary
/// (whose tokens take a few megabytes), far below what forty doubling merges would allocate.
pub const MAX_TOKEN_BYTES: u64 = 1 << 30;

/// A token's bytes for people: UTF-8 shown as text, other bytes as \xNN, in quotes.
pub fn show_bytes(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() || c.is_whitespace() && c != ' ' => {
                    let _ = write!(s, "{}", c.escape_default());
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s.push('"');
    s
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// The `.bpe` text of a tokenizer.
pub fn to_bpe_text(tok: &Tokenizer) -> Result<String> {
    let vocab = &tok.vocab;
    let merges = vocab.merges()?;
    let mut out = String::with_capacity(merges.len() * 24 + 256);
    let _ = writeln!(out, "{MAGIC} {VERSION}");
    let _ = writeln!(out, "# byte-level BPE: {} tokens; each merge line joins two ids into id 256 + its index", vocab.n_vocab());
    let _ = writeln!(out, "pattern {}", json_string(tok.pre.pattern()));
    for (text, id) in &vocab.specials {
        let _ = writeln!(out, "special {id} {}", json_string(text));
    }
    let order = vocab.byte_order()?;
    if order != IDENTITY {
        let list: Vec<String> = order.iter().map(|b| b.to_string()).collect();
        let _ = writeln!(out, "bytes {}", list.join(" "));
    }
    let _ = writeln!(out, "merges {}", merges.len());
    for (i, (l, r)) in merges.iter().enumerate() {
        let _ = writeln!(out, "{l} {r}\t# {}", show_bytes(&vocab.tokens[256 + i]));
    }
    Ok(out)
}

/// Parse `.bpe` text; `source` (the path) names the file in errors, with the line.
pub fn from_bpe_text(text: &str, source: &str) -> Result<Tokenizer> {
    let bad = |line: usize, msg: String| Error::Format(source.to_string(), line, msg);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.starts_with('#'));
    match lines.next() {
        Some((_, l)) if l.trim_end() == format!("{MAGIC} {VERSION}") => {}
        Some((n, l)) if l.starts_with(MAGIC) => {
            return Err(bad(n, format!("unsupported version {:?}; this build reads version {VERSION}", l[MAGIC.len()..].trim())))
        }
        _ => return Err(bad(1, format!("not a .bpe tokenizer file (it must start with \"{MAGIC} {VERSION}\")"))),
    }
    let mut pattern: Option<String> = None;
    let mut specials = Vec::new();
    let mut special_lines = Vec::new(); // the line of each special token, for errors
    let mut order = IDENTITY;
    let mut merges: Vec<(u32, u32)> = Vec::new();
    let mut expected_merges = None;
    for (n, line) in lines.by_ref() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "pattern" => {
                let p: String = serde_json::from_str(rest).map_err(|e| bad(n, format!("pattern is not a JSON string: {e}")))?;
                pattern = Some(p);
            }
            "special" => {
                let (id, name) = rest.split_once(' ').ok_or_else(|| bad(n, "expected: special ID \"TEXT\"".into()))?;
                let id: u32 = id.parse().map_err(|_| bad(n, format!("special token id {id:?} is not a number")))?;
                let name: String = serde_json::from_str(name).map_err(|e| bad(n, format!("special token is not a JSON string: {e}")))?;
                specials.push((name, id));
                special_lines.push(n);
            }
            "bytes" => {
                let list: Vec<&str> = rest.split(' ').collect();
                if list.len() != 256 {
                    return Err(bad(n, format!("bytes must list 256 values, found {}", list.len())));
                }
                let mut seen = [false; 256];
                for (slot, v) in order.iter_mut().zip(list) {
                    let b: u8 = v.parse().map_err(|_| bad(n, format!("{v:?} is not a byte value")))?;
                    if std::mem::replace(&mut seen[b as usize], true) {
                        return Err(bad(n, format!("byte {b} is listed twice")));
                    }
                    *slot = b;
                }
            }
            "merges" => {
                let count: usize = rest.trim().parse().map_err(|_| bad(n, format!("merge count {rest:?} is not a number")))?;
                expected_merges = Some((n, count));
                break;
            }
            _ => return Err(bad(n, format!("unknown line {:?}", truncate(line)))),
        }
    }
    let (count_line, count) = expected_merges.ok_or_else(|| bad(0, "the file ends before its \"merges\" line (truncated?)".into()))?;
    // The count is only a promise: a corrupt one must not reserve terabytes.
    merges.reserve(count.min(text.len() / 4));
    let mut lengths: Vec<u64> = order.iter().map(|_| 1).collect();
    let mut total_bytes = 256u64;
    let mut merge_lines = Vec::with_capacity(merges.capacity()); // the line of each merge, for errors
    for (n, line) in lines {
        let body = line.split('\t').next().unwrap_or("");
        let mut it = body.split(' ');
        let (l, r) = match (it.next(), it.next(), it.next()) {
            (Some(l), Some(r), None) => (l, r),
            _ => return Err(bad(n, format!("expected a merge \"LEFT RIGHT\", found {:?}", truncate(line)))),
        };
        let parse = |v: &str| v.parse::<u32>().map_err(|_| bad(n, format!("{v:?} is not a token id")));
        let (l, r) = (parse(l)?, parse(r)?);
        let next_id = 256 + merges.len() as u32;
        if l >= next_id || r >= next_id {
            return Err(bad(n, format!("merge {l} {r} names a token that does not exist yet (ids so far end at {})", next_id - 1)));
        }
        let length = lengths[l as usize] + lengths[r as usize];
        total_bytes += length;
        if total_bytes > MAX_TOKEN_BYTES {
            return Err(bad(n, format!("the merges so far spell tokens of more than {MAX_TOKEN_BYTES} bytes in all; the file is corrupt")));
        }
        lengths.push(length);
        merges.push((l, r));
        merge_lines.push(n);
    }
    if merges.len() != count {
        return Err(bad(count_line, format!("promises {count} merges but the file holds {} (truncated?)", merges.len())));
    }
    let pattern = pattern.ok_or_else(|| bad(0, "no \"pattern\" line".into()))?;
    let pre = Pretokenizer::new(&pattern).map_err(|e| bad(0, e.to_string()))?;
    // The special tokens' own faults, named by their lines (the vocabulary checks them too, but
    // knows no lines).
    let ordinary = 256 + merges.len();
    for (i, ((name, id), &n)) in specials.iter().zip(&special_lines).enumerate() {
        if name.is_empty() {
            return Err(bad(n, "a special token cannot be the empty string".into()));
        }
        if (*id as usize) < ordinary {
            return Err(bad(n, format!("the special token {name:?} has id {id}, which an ordinary token already uses (ids 0..{})", ordinary - 1)));
        }
        if let Some(j) = specials[..i].iter().position(|(m, _)| m == name) {
            return Err(bad(n, format!("the special token {name:?} is given twice (first on line {})", special_lines[j])));
        }
        if let Some(j) = specials[..i].iter().position(|(_, k)| k == id) {
            return Err(bad(n, format!("the special tokens {:?} (line {}) and {name:?} share the id {id}", specials[j].0, special_lines[j])));
        }
    }
    let vocab = Vocab::from_merges(&order, &merges, specials, source).map_err(|e| match e {
        // Two merges that spell the same bytes: name the later one's line.
        Error::DuplicateToken { first, second, bytes, .. } if (256..ordinary).contains(&(second as usize)) => {
            bad(merge_lines[second as usize - 256], format!("this merge makes token {second}, whose bytes {bytes} token {first} has already"))
        }
        e => e,
    })?;
    Tokenizer::new(vocab, pre)
}

fn truncate(line: &str) -> String {
    line.chars().take(60).collect()
}

/// Write `bytes` to `path` so that readers see either the old file or the whole new one:
/// a temporary file in the same folder, flushed to disk, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::Value(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tokenizer {
        let vocab = Vocab::from_merges(&IDENTITY, &[(32, 116), (256, 104), (0xe4, 0xb8)], vec![("<|endoftext|>".into(), 259)], "t").unwrap();
        Tokenizer::new(vocab, Pretokenizer::new("gpt2").unwrap()).unwrap()
    }

    #[test]
    fn bpe_text_round_trips() {
        let tok = sample();
        let text = to_bpe_text(&tok).unwrap();
        assert!(text.contains("32 116\t# \" t\""));
        assert!(text.contains("228 184\t# \"\\xe4\\xb8\""));
        let back = from_bpe_text(&text, "x.bpe").unwrap();
        assert_eq!(back.vocab.tokens, tok.vocab.tokens);
        assert_eq!(back.vocab.specials, tok.vocab.specials);
        assert_eq!(to_bpe_text(&back).unwrap(), text);
    }

    #[test]
    fn corrupt_files_name_the_line() {
        let text = to_bpe_text(&sample()).unwrap();
        let truncated: String = text.lines().take(6).map(|l| format!("{l}\n")).collect();
        let err = from_bpe_text(&truncated, "t.bpe").unwrap_err().to_string();
        assert!(err.contains("t.bpe") && err.contains("truncated"), "{err}");
        let broken = text.replace("256 104", "256 999");
        let err = from_bpe_text(&broken, "t.bpe").unwrap_err().to_string();
        assert!(err.contains("line 7") && err.contains("999"), "{err}");
        let err = from_bpe_text("hello", "t.bpe").unwrap_err().to_string();
        assert!(err.contains("not a .bpe"), "{err}");
    }
}
