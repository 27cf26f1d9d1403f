//! Other tools' vocabulary files, read here rather than in Python (a loop over 200,000 lines
//! in Python cost more than building the tokenizer): tiktoken's rank files (`BASE64 RANK` per
//! line) and GPT-2's own `encoder.json` + `vocab.bpe`. Every fault names the file and, where
//! there is one, the line.

use crate::encode::Tokenizer;
use crate::error::{Error, Result};
use crate::pretokenize::Pretokenizer;
use crate::vocab::Vocab;
use base64::Engine as _;
use rustc_hash::FxHashMap;

/// The ordinary tokens of a tiktoken rank file, in rank order, with the line of each.
pub struct Ranks {
    pub tokens: Vec<Vec<u8>>,
    lines: Vec<usize>,
}

/// At most `n` characters of `bytes` (invalid UTF-8 shown as U+FFFD), for messages.
fn prefix(bytes: &[u8], n: usize) -> String {
    String::from_utf8_lossy(bytes).chars().take(n).collect()
}

/// Parse a tiktoken rank file; blank lines are skipped, and the ranks must be 0..n-1, each once.
pub fn parse_tiktoken(text: &[u8], source: &str) -> Result<Ranks> {
    let bad = |line: usize, msg: String| Error::Format(source.to_string(), line, msg);
    // A rank past the file's last line cannot be part of 0..n-1 (n is at most the lines):
    // such ranks are only counted, and show up as the gap they leave.
    let n_lines = memchr::memchr_iter(b'\n', text).count() + 1;
    let mut slots: Vec<Option<(Vec<u8>, usize)>> = (0..n_lines).map(|_| None).collect();
    let mut n_tokens = 0;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(|&b| b == b' ');
        let (token, rank) = match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(r), None) => (t, r),
            _ => return Err(bad(n, format!("expected 'BASE64 RANK', found {:?}", prefix(line, 60)))),
        };
        let token = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| bad(n, format!("{:?} is not valid base64", prefix(token, 40))))?;
        let rank: i64 = std::str::from_utf8(rank)
            .ok()
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| bad(n, format!("rank {:?} is not a number", prefix(rank, 20))))?;
        if rank < 0 {
            return Err(bad(n, format!("rank {rank} is negative")));
        }
        if token.is_empty() {
            return Err(bad(n, "empty token".into()));
        }
        n_tokens += 1;
        if let Some(slot) = usize::try_from(rank).ok().and_then(|r| slots.get_mut(r)) {
            if let Some((_, first)) = slot {
                return Err(bad(n, format!("rank {rank} appears twice (first on line {first})")));
            }
            *slot = Some((token, n));
        }
    }
    if n_tokens == 0 {
        return Err(bad(0, "no tokens in the file (empty or truncated?)".into()));
    }
    slots.truncate(n_tokens);
    if let Some(missing) = slots.iter().position(Option::is_none) {
        return Err(bad(0, format!("token ids must run from 0 without gaps, but id {missing} is missing")));
    }
    let (tokens, lines) = slots.into_iter().flatten().unzip();
    Ok(Ranks { tokens, lines })
}

/// The tokenizer of parsed rank-file tokens, `specials` and `pattern`.
pub fn from_tiktoken_ranks(ranks: Ranks, specials: Vec<(String, u32)>, pattern: &str, source: &str) -> Result<Tokenizer> {
    let pre = Pretokenizer::new(pattern)?;
    let Ranks { tokens, lines } = ranks;
    let vocab = Vocab::new(tokens, specials, source).map_err(|e| match e {
        Error::DuplicateToken { first, second, bytes, .. } if (second as usize) < lines.len() => Error::Format(
            source.to_string(),
            lines[second as usize],
            format!("token {bytes} appears twice (ranks {first} and {second})"),
        ),
        e => e,
    })?;
    Tokenizer::new(vocab, pre)
}

/// GPT-2's byte-level alphabet, character by byte: printable bytes stand for themselves, the
/// other bytes take the code points from 256 up, in byte order.
fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 256;
    for (b, slot) in table.iter_mut().enumerate() {
        *slot = if matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff) {
            char::from(b as u8)
        } else {
            extra += 1;
            char::from_u32(extra - 1).expect("256..324 are characters")
        };
    }
    table
}

/// The bytes a GPT-2 token string stands for, or the first character that is not in the
/// alphabet.
fn unmap(token: &str, bytes_of: &FxHashMap<char, u8>) -> std::result::Result<Vec<u8>, char> {
    token.chars().map(|c| bytes_of.get(&c).copied().ok_or(c)).collect()
}

/// GPT-2's own files: `encoder.json` (token string → id, special tokens written `<|…|>`) and
/// `vocab.bpe` (the merges in order, each making token 256 + its index, as in GPT-2's release).
pub fn from_gpt2(encoder: &[u8], merges: &[u8], encoder_src: &str, merges_src: &str, pattern: &str) -> Result<Tokenizer> {
    use serde_json::error::Category;
    let enc_bad = |line: usize, msg: String| Error::Format(encoder_src.to_string(), line, msg);
    let merge_bad = |line: usize, msg: String| Error::Format(merges_src.to_string(), line, msg);
    let map: FxHashMap<String, i64> = serde_json::from_slice(encoder).map_err(|e| match e.classify() {
        Category::Data => enc_bad(0, format!("expected a JSON object of token → id ({e})")),
        _ => enc_bad(e.line(), format!("not valid JSON ({e}; truncated?)")),
    })?;
    let chars = byte_chars();
    let bytes_of: FxHashMap<char, u8> = chars.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
    let mut specials = Vec::new();
    let mut slots: Vec<Option<(Vec<u8>, &str)>> = (0..map.len()).map(|_| None).collect();
    let mut n_tokens = 0;
    for (text, &id) in &map {
        if text.starts_with("<|") && text.ends_with("|>") && text.len() > 3 {
            let id = u32::try_from(id).map_err(|_| enc_bad(0, format!("the special token {text:?} has id {id}, which is out of range")))?;
            specials.push((text.clone(), id));
            continue;
        }
        let bytes = unmap(text, &bytes_of)
            .map_err(|c| enc_bad(0, format!("{text:?} is not a byte-level token (character {c:?})")))?;
        n_tokens += 1;
        // Ids past the number of entries leave a gap below them, found after the loop.
        if let Some(slot) = usize::try_from(id).ok().and_then(|i| slots.get_mut(i)) {
            if let Some((_, other)) = slot {
                return Err(enc_bad(0, format!("id {id} is given to both {other:?} and {text:?}")));
            }
            *slot = Some((bytes, text));
        } else if id < 0 {
            return Err(enc_bad(0, format!("the token {text:?} has the negative id {id}")));
        }
    }
    slots.truncate(n_tokens);
    if let Some(missing) = slots.iter().position(Option::is_none) {
        return Err(enc_bad(0, format!("token ids must run from 0 without gaps, but id {missing} is missing")));
    }
    let tokens: Vec<Vec<u8>> = slots.into_iter().flatten().map(|(b, _)| b).collect();
    specials.sort_by_key(|&(_, id)| id);

    let text = std::str::from_utf8(merges)
        .map_err(|e| merge_bad(0, format!("not UTF-8 at byte offset {}", e.valid_up_to())))?;
    let id_of: FxHashMap<&[u8], u32> = tokens.iter().enumerate().map(|(i, t)| (t.as_slice(), i as u32)).collect();
    let mut made = 0usize;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() || line.starts_with("#version") {
            continue;
        }
        let (left, right) = match line.split_once(' ') {
            Some((l, r)) if !r.contains(' ') => (l, r),
            _ => return Err(merge_bad(n, format!("expected a merge 'LEFT RIGHT', found {:?}", prefix(line.as_bytes(), 60)))),
        };
        let mut joined = Vec::with_capacity(left.len() + right.len());
        for part in [left, right] {
            let bytes = unmap(part, &bytes_of)
                .map_err(|c| merge_bad(n, format!("{part:?} is not a byte-level token (character {c:?})")))?;
            if !id_of.contains_key(bytes.as_slice()) {
                return Err(merge_bad(n, format!("the merge names {part:?}, which is not a token")));
            }
            joined.extend_from_slice(&bytes);
        }
        let expected = 256 + made;
        match id_of.get(joined.as_slice()) {
            Some(&id) if id as usize == expected => {}
            found => {
                let spelled: String = joined.iter().map(|&b| chars[b as usize]).collect();
                let found = match found {
                    Some(id) => format!("encoder.json gives {spelled:?} id {id}"),
                    None => format!("encoder.json has no token {spelled:?}"),
                };
                return Err(merge_bad(n, format!("merge {line:?} should make token {expected}, but {found}")));
            }
        }
        made += 1;
    }
    if made + 256 != tokens.len() {
        let expected = tokens.len().saturating_sub(256);
        return Err(merge_bad(0, format!("{made} merges for {} tokens (expected {expected}; truncated?)", tokens.len())));
    }
    drop(id_of);
    let pre = Pretokenizer::new(pattern)?;
    let vocab = Vocab::new(tokens, specials, encoder_src)?;
    Tokenizer::new(vocab, pre)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank_file(tokens: &[&[u8]]) -> String {
        let e = base64::engine::general_purpose::STANDARD;
        tokens.iter().enumerate().map(|(i, t)| format!("{} {i}\n", e.encode(t))).collect()
    }

    fn all_bytes() -> Vec<Vec<u8>> {
        (0..=255u8).map(|b| vec![b]).collect()
    }

    #[test]
    fn rank_files_parse_and_name_their_faults() {
        let mut tokens = all_bytes();
        tokens.push(b"ab".to_vec());
        let refs: Vec<&[u8]> = tokens.iter().map(Vec::as_slice).collect();
        let text = rank_file(&refs);
        let ranks = parse_tiktoken(text.as_bytes(), "t").unwrap();
        assert_eq!(ranks.tokens, tokens);
        let tok = from_tiktoken_ranks(ranks, vec![("<|x|>".into(), 300)], "gpt2", "t").unwrap();
        assert_eq!(tok.n_vocab(), 301);

        let err = |text: &str| parse_tiktoken(text.as_bytes(), "t").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("YQ== 0\nYg== 0\n").contains("line 2: rank 0 appears twice (first on line 1)"));
        assert!(err("YQ== 0\nYg== 2\n").contains("id 1 is missing"));
        assert!(err("YQ== 0\nYg== 99999999999\n").contains("id 1 is missing"));
        assert!(err("YQ== 0\n!! 1\n").contains("line 2: \"!!\" is not valid base64"));
        assert!(err("YQ== -1\n").contains("rank -1 is negative"));
        assert!(err("YQ== x\n").contains("rank \"x\" is not a number"));
        assert!(err("YQ==\n").contains("line 1: expected 'BASE64 RANK'"));
        assert!(err("\n\n").contains("no tokens"));
        let dup = format!("{}YQ== 256\n", rank_file(&refs[..256]));
        let ranks = parse_tiktoken(dup.as_bytes(), "t").unwrap();
        let e = from_tiktoken_ranks(ranks, vec![], "gpt2", "t").err().unwrap().to_string();
        assert!(e.contains("line 257: token \"a\" appears twice (ranks 97 and 256)"), "{e}");
    }

    #[test]
    fn gpt2_files_parse_and_name_their_faults() {
        let chars = byte_chars();
        assert_eq!((chars[b' ' as usize], chars[b'!' as usize], chars[0]), ('Ġ', '!', 'Ā'));
        let mut encoder: Vec<String> = chars.iter().enumerate().map(|(b, c)| format!("{:?}: {b}", c.to_string())).collect();
        encoder.push("\"Ġt\": 256".into());
        encoder.push("\"<|endoftext|>\": 257".into());
        let encoder = format!("{{{}}}", encoder.join(", "));
        let tok = from_gpt2(encoder.as_bytes(), "#version: 0.2\nĠ t\n".as_bytes(), "e", "m", "gpt2").unwrap();
        assert_eq!(tok.vocab.tokens[256], b" t");
        assert_eq!(tok.vocab.specials, vec![("<|endoftext|>".to_string(), 257)]);

        let err = |enc: &str, merges: &str| from_gpt2(enc.as_bytes(), merges.as_bytes(), "e", "m", "gpt2").err().unwrap().to_string();
        assert!(err(&encoder, "Ġ q\n").contains("m, line 1: merge \"Ġ q\" should make token 256"));
        assert!(err(&encoder, "Ġ t\nĠ t\n").contains("m, line 2"));
        assert!(err(&encoder, "").contains("0 merges for 257 tokens"));
        assert!(err(&encoder, "Ġ zz\n").contains("the merge names \"zz\", which is not a token"));
        assert!(err(&encoder[..40], "").contains("e, line 1: not valid JSON"));
        assert!(err("[1, 2]", "").contains("expected a JSON object"));
        assert!(err(&encoder.replace(": 256", ": 300"), "").contains("id 256 is missing"));
        assert!(err(&encoder.replace(": 256", ": 255"), "").contains("id 255 is given to both"));
    }
}
