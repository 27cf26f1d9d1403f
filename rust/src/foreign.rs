//! Other tools' vocabulary files, read here rather than in Python (a loop over 200,000 lines
//! in Python cost more than building the tokenizer): tiktoken's rank files (`BASE64 RANK` per
//! line), GPT-2's own `encoder.json` + `vocab.bpe`, and the vocabulary and merges of a HF
//! `tokenizer.json` (its settings are checked by the caller); and the HF spelling of a
//! vocabulary for export. Every fault names the file and, where there is one, the line.

use crate::encode::Tokenizer;
use crate::error::{Error, Result};
use crate::pretokenize::Pretokenizer;
use crate::vocab::Vocab;
use base64::Engine as _;
use rustc_hash::FxHashMap;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

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

/// GPT-2's byte-level alphabet, in which `encoder.json`, `vocab.bpe` and HF's byte-level
/// `tokenizer.json` spell tokens: printable bytes stand for themselves, the other bytes take the
/// code points from 256 up, in byte order.
struct ByteLevel {
    chars: [char; 256],
    /// The byte of each code point below 324 (256 + the 68 bytes that are not printable).
    bytes: [Option<u8>; 324],
}

impl ByteLevel {
    fn new() -> Self {
        let mut chars = ['\0'; 256];
        let mut bytes = [None; 324];
        let mut extra = 256;
        for (b, slot) in chars.iter_mut().enumerate() {
            let c = if matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff) {
                b as u32
            } else {
                extra += 1;
                extra - 1
            };
            *slot = char::from_u32(c).expect("below 324: characters");
            bytes[c as usize] = Some(b as u8);
        }
        ByteLevel { chars, bytes }
    }

    /// The bytes `token` stands for, or the first character outside the alphabet.
    fn unmap(&self, token: &str) -> std::result::Result<Vec<u8>, char> {
        let mut out = Vec::with_capacity(token.len());
        self.unmap_into(token, &mut out).map(|()| out)
    }

    /// `unmap`, appending to `out`.
    fn unmap_into(&self, token: &str, out: &mut Vec<u8>) -> std::result::Result<(), char> {
        for c in token.chars() {
            out.push(self.bytes.get(c as usize).copied().flatten().ok_or(c)?);
        }
        Ok(())
    }

    /// `bytes` spelled in the alphabet.
    fn remap(&self, bytes: &[u8]) -> String {
        bytes.iter().map(|&b| self.chars[b as usize]).collect()
    }
}

/// The ordinary tokens of a token → id map in GPT-2's spelling, in id order: the ids must run
/// from 0 without gaps, each used once. `n` bounds the number of entries; `bad` makes an error.
fn ranked<'a>(
    entries: impl Iterator<Item = (&'a str, i64)>,
    n: usize,
    alphabet: &ByteLevel,
    bad: impl Fn(String) -> Error,
) -> Result<Vec<Vec<u8>>> {
    let mut slots: Vec<Option<(Vec<u8>, &str)>> = (0..n).map(|_| None).collect();
    let mut n_tokens = 0;
    for (text, id) in entries {
        let bytes = alphabet.unmap(text).map_err(|c| bad(format!("{text:?} is not a byte-level token (character {c:?})")))?;
        if id < 0 {
            return Err(bad(format!("the token {text:?} has the negative id {id}")));
        }
        n_tokens += 1;
        // Ids past the number of entries leave a gap below them, found after the loop.
        if let Some(slot) = usize::try_from(id).ok().and_then(|i| slots.get_mut(i)) {
            if let Some((_, other)) = slot {
                return Err(bad(format!("id {id} is given to both {other:?} and {text:?}")));
            }
            *slot = Some((bytes, text));
        }
    }
    slots.truncate(n_tokens);
    if let Some(missing) = slots.iter().position(Option::is_none) {
        return Err(bad(format!("token ids must run from 0 without gaps, but id {missing} is missing")));
    }
    Ok(slots.into_iter().flatten().map(|(b, _)| b).collect())
}

/// Why a merge's half (in GPT-2's spelling) could not be looked up.
enum HalfFault<'s> {
    /// A character outside the byte-level alphabet.
    Alphabet(&'s str, char),
    /// Not a token of the vocabulary.
    Unknown(&'s str),
}

/// Look up the two halves of a merge in `vocab`, leaving their joined bytes in `buf`: the
/// halves' ids, and the id of the token they join into (None where no token has those bytes).
fn look_up_merge<'s>(
    alphabet: &ByteLevel,
    vocab: &Vocab,
    halves: [&'s str; 2],
    buf: &mut Vec<u8>,
) -> std::result::Result<([u32; 2], Option<u32>), HalfFault<'s>> {
    buf.clear();
    let mut ids = [0u32; 2];
    for (slot, half) in ids.iter_mut().zip(halves) {
        let start = buf.len();
        alphabet.unmap_into(half, buf).map_err(|c| HalfFault::Alphabet(half, c))?;
        *slot = vocab.token_id(&buf[start..]).ok_or(HalfFault::Unknown(half))?;
    }
    Ok((ids, vocab.token_id(buf)))
}

/// A JSON parse error as a format error of `source`: the line, and a hint at truncation.
fn json_error(source: &str, e: serde_json::Error) -> Error {
    if e.to_string().starts_with("recursion limit exceeded") {
        return Error::Format(source.to_string(), e.line(), "JSON nested too deeply to be a tokenizer file".into());
    }
    Error::Format(source.to_string(), e.line(), format!("not valid JSON ({e}; truncated?)"))
}

/// GPT-2's own files: `encoder.json` (token string → id, special tokens written `<|…|>`) and
/// `vocab.bpe` (the merges in order, each making token 256 + its index, as in GPT-2's release).
pub fn from_gpt2(encoder: &[u8], merges: &[u8], encoder_src: &str, merges_src: &str, pattern: &str) -> Result<Tokenizer> {
    use serde_json::error::Category;
    let enc_bad = |line: usize, msg: String| Error::Format(encoder_src.to_string(), line, msg);
    let merge_bad = |line: usize, msg: String| Error::Format(merges_src.to_string(), line, msg);
    let map: FxHashMap<String, i64> = serde_json::from_slice(encoder).map_err(|e| match e.classify() {
        Category::Data => enc_bad(0, format!("expected a JSON object of token → id ({e})")),
        _ => json_error(encoder_src, e),
    })?;
    let alphabet = ByteLevel::new();
    let is_special = |t: &str| t.starts_with("<|") && t.ends_with("|>") && t.len() > 3;
    let mut specials = Vec::new();
    for (text, &id) in map.iter().filter(|(t, _)| is_special(t)) {
        let id = u32::try_from(id).map_err(|_| enc_bad(0, format!("the special token {text:?} has id {id}, which is out of range")))?;
        specials.push((text.clone(), id));
    }
    let ordinary = map.iter().filter(|(t, _)| !is_special(t)).map(|(t, &i)| (t.as_str(), i));
    let tokens = ranked(ordinary, map.len(), &alphabet, |msg| enc_bad(0, msg))?;
    specials.sort_by_key(|&(_, id)| id);

    let text = std::str::from_utf8(merges)
        .map_err(|e| merge_bad(0, format!("not UTF-8 at byte offset {}", e.valid_up_to())))?;
    let pre = Pretokenizer::new(pattern)?;
    let vocab = Vocab::new(tokens, specials, encoder_src)?;
    let (mut made, mut buf) = (0usize, Vec::new());
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() || line.starts_with("#version") {
            continue;
        }
        let (left, right) = match line.split_once(' ') {
            Some((l, r)) if !r.contains(' ') => (l, r),
            _ => return Err(merge_bad(n, format!("expected a merge 'LEFT RIGHT', found {:?}", prefix(line.as_bytes(), 60)))),
        };
        let joined = match look_up_merge(&alphabet, &vocab, [left, right], &mut buf) {
            Ok((_, joined)) => joined,
            Err(HalfFault::Alphabet(half, c)) => return Err(merge_bad(n, format!("{half:?} is not a byte-level token (character {c:?})"))),
            Err(HalfFault::Unknown(half)) => return Err(merge_bad(n, format!("the merge names {half:?}, which is not a token"))),
        };
        let expected = 256 + made;
        if joined != Some(expected as u32) {
            let spelled = alphabet.remap(&buf);
            let found = match joined {
                Some(id) => format!("encoder.json gives {spelled:?} id {id}"),
                None => format!("encoder.json has no token {spelled:?}"),
            };
            return Err(merge_bad(n, format!("merge {line:?} should make token {expected}, but {found}")));
        }
        made += 1;
    }
    let n_tokens = vocab.tokens.len();
    if made + 256 != n_tokens {
        let expected = n_tokens.saturating_sub(256);
        return Err(merge_bad(0, format!("{made} merges for {n_tokens} tokens (expected {expected}; truncated?)")));
    }
    Tokenizer::new(vocab, pre)
}

/// The vocabulary and merges of a HF `tokenizer.json`, taken out of the document (the merges
/// as their JSON text, read one by one later).
pub struct HfModel<'a> {
    vocab: FxHashMap<String, i64>,
    merges: Vec<&'a RawValue>,
}

/// Parse a HF `tokenizer.json` holding a BPE model: its vocabulary and merges, and the rest of
/// the document (its settings, a few KB) as JSON text for the caller to check.
pub fn split_huggingface<'a>(doc: &'a [u8], source: &str) -> Result<(HfModel<'a>, String)> {
    use serde_json::error::Category;
    let bad = |msg: String| Error::Format(source.to_string(), 0, msg);
    let not_bpe = || bad("not a BPE tokenizer.json (no model of type BPE with a vocab)".into());
    let doc = std::str::from_utf8(doc).map_err(|e| bad(format!("not UTF-8 at byte offset {}", e.valid_up_to())))?;
    type Raw<'a> = FxHashMap<String, &'a RawValue>;
    let top: Raw<'a> = serde_json::from_str(doc).map_err(|e| match e.classify() {
        Category::Data => not_bpe(),
        _ => json_error(source, e),
    })?;
    let mut model: Raw<'a> = top.get("model").and_then(|m| serde_json::from_str(m.get()).ok()).ok_or_else(not_bpe)?;
    if model.get("type").is_some_and(|t| t.get() != "\"BPE\"") {
        return Err(not_bpe());
    }
    let vocab = model.remove("vocab").ok_or_else(not_bpe)?;
    let vocab = serde_json::from_str(vocab.get()).map_err(|_| {
        // Name the first entry at fault.
        match serde_json::from_str::<serde_json::Map<String, Value>>(vocab.get()) {
            Ok(map) => match map.iter().find(|(_, id)| !id.is_i64()) {
                Some((text, id)) => bad(format!("model.vocab: the id of {text:?} is {id}, not a whole number")),
                None => bad("model.vocab: an id is out of range".into()),
            },
            Err(_) => bad("model.vocab is not an object of token → id".into()),
        }
    })?;
    let merges = match model.remove("merges") {
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        Some(raw) => serde_json::from_str(raw.get()).map_err(|_| bad("model.merges is not a list".into()))?,
    };
    let value = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).expect("checked by the parse above");
    let model = Value::Object(model.into_iter().map(|(k, raw)| (k, value(raw))).collect());
    let mut rest: serde_json::Map<String, Value> = top.into_iter().filter(|(k, _)| k != "model").map(|(k, raw)| (k, value(raw))).collect();
    rest.insert("model".into(), model);
    Ok((HfModel { vocab, merges }, Value::Object(rest).to_string()))
}

/// A merge of a tokenizer.json, `"LEFT RIGHT"` or `["LEFT", "RIGHT"]`, as its two halves
/// (borrowed from the document where they hold no escapes).
fn merge_halves(raw: &RawValue) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let text = raw.get();
    if text.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<&str>(text) {
            return s.split_once(' ').map(|(l, r)| (Cow::Borrowed(l), Cow::Borrowed(r)));
        }
        let s: String = serde_json::from_str(text).ok()?;
        return s.split_once(' ').map(|(l, r)| (Cow::Owned(l.to_string()), Cow::Owned(r.to_string())));
    }
    if let Ok((l, r)) = serde_json::from_str::<(&str, &str)>(text) {
        return Some((Cow::Borrowed(l), Cow::Borrowed(r)));
    }
    serde_json::from_str::<(String, String)>(text).ok().map(|(l, r)| (Cow::Owned(l), Cow::Owned(r)))
}

/// The tokenizer of a HF BPE model: `added` are its added tokens (special here), `pattern` and
/// `ignore_merges` come from its settings. Only a model for which HF's ids are this tokenizer's
/// loads: the merges must be in id order, and name every merge this tokenizer makes (and, with
/// `ignore_merges` false, build every token from its own bytes, since HF then merges a piece
/// that is a token instead of looking it up).
pub fn from_hf_model(model: HfModel<'_>, added: Vec<(String, u32)>, pattern: &str, ignore_merges: bool, source: &str) -> Result<Tokenizer> {
    let bad = |msg: String| Error::Format(source.to_string(), 0, msg);
    let alphabet = ByteLevel::new();
    let added_names: rustc_hash::FxHashSet<&str> = added.iter().map(|(a, _)| a.as_str()).collect();
    let mut entries = Vec::with_capacity(model.vocab.len());
    for (text, &id) in &model.vocab {
        if !added_names.contains(text.as_str()) {
            entries.push((text.as_str(), id));
        }
    }
    let tokens = ranked(entries.into_iter(), model.vocab.len(), &alphabet, |msg| bad(format!("vocab: {msg}")))?;
    drop(added_names);
    let pre = Pretokenizer::new(pattern)?;
    let tok = Tokenizer::new(Vocab::new(tokens, added, source)?, pre)?;
    let vocab = &tok.vocab;
    // HF merges only the pairs its list names; this tokenizer merges any two neighbours whose
    // joined bytes are a token. They agree when every merge this tokenizer makes (the pair each
    // token is last merged from, as `merges()` finds it) is listed: `covered` marks those seen.
    // When `merges()` fails (a token its merges do not build from its own bytes) and
    // ignore_merges is set, whole-piece lookups still agree, but no pairs can be checked.
    let made_from = vocab.merges();
    let mut covered = vec![false; made_from.as_ref().map_or(0, Vec::len)];
    let (mut last, mut buf) = (0, Vec::new());
    for (k, merge) in model.merges.iter().enumerate() {
        let (left, right) = merge_halves(merge).ok_or_else(|| {
            bad(format!("merge {k}: expected 'LEFT RIGHT' or [LEFT, RIGHT], found {}", prefix(merge.get().as_bytes(), 60)))
        })?;
        let (ids, made) = match look_up_merge(&alphabet, vocab, [&left, &right], &mut buf) {
            Ok(found) => found,
            Err(HalfFault::Alphabet(half, c)) => return Err(bad(format!("merge {k}: {half:?} is not a byte-level token (character {c:?})"))),
            Err(HalfFault::Unknown(half)) => return Err(bad(format!("merge {k} names {half:?}, which is not in the vocab"))),
        };
        let made = made.ok_or_else(|| bad(format!("merge {k} makes {:?}, which is not in the vocab", alphabet.remap(&buf))))?;
        if made < last {
            return Err(bad(format!("merge {k}: merges are not in id order; only vocabularies whose ids follow the merges load")));
        }
        last = made;
        if let (Ok(m), Some(i)) = (&made_from, (made as usize).checked_sub(256)) {
            covered[i] |= m[i] == (ids[0], ids[1]);
        }
    }
    match made_from {
        Err(_) if ignore_merges => {}
        Err(e) => {
            let reason = e.to_string();
            let reason = reason.split(';').next().unwrap_or_default(); // (the rest speaks of writing a merge list)
            return Err(bad(format!(
                "model.ignore_merges=false (HF's default) is not supported for this vocabulary: HF then merges a piece that \
                 is a token instead of looking it up whole as this tokenizer does, which gives other ids unless the merges \
                 build every token from its own bytes, and here {reason}"
            )));
        }
        Ok(m) => {
            if let Some(i) = covered.iter().position(|&c| !c) {
                let (t, (l, r)) = (&vocab.tokens, m[i]);
                let (l, r) = (alphabet.remap(&t[l as usize]), alphabet.remap(&t[r as usize]));
                return Err(bad(format!(
                    "the merges lack \"{l} {r}\", which this tokenizer uses to make token {} ({:?}) inside longer pieces, \
                     as tiktoken's rule does; HF cannot, so its ids would differ",
                    i + 256,
                    alphabet.remap(&t[i + 256])
                )));
            }
        }
    }
    Ok(tok)
}

/// A vocabulary as a HF byte-level BPE model spells it: each ordinary token in GPT-2's
/// alphabet, by id, and the merges: every two-token split of every token, the tokens in id
/// order and each token's splits by (left id, right id), so that HF's merge order reproduces
/// the lowest-rank-first rule.
pub fn hf_spelling(vocab: &Vocab) -> (Vec<String>, Vec<String>) {
    let alphabet = ByteLevel::new();
    let spelled: Vec<String> = vocab.tokens.iter().map(|t| alphabet.remap(t)).collect();
    let mut merges = Vec::with_capacity(vocab.tokens.len() * 2);
    let mut splits = Vec::new();
    for t in &vocab.tokens {
        splits.clear();
        for k in 1..t.len() {
            if let Some(l) = vocab.token_id(&t[..k]) {
                if let Some(r) = vocab.token_id(&t[k..]) {
                    splits.push((l, r));
                }
            }
        }
        splits.sort_unstable();
        merges.extend(splits.iter().map(|&(l, r)| format!("{} {}", spelled[l as usize], spelled[r as usize])));
    }
    (spelled, merges)
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
        let alphabet = ByteLevel::new();
        let chars = alphabet.chars;
        assert_eq!((chars[b' ' as usize], chars[b'!' as usize], chars[0], chars[0xad]), ('Ġ', '!', 'Ā', 'Ń'));
        assert_eq!(alphabet.unmap("ĠtĀ"), Ok(b" t\0".to_vec()));
        assert_eq!(alphabet.unmap("a b"), Err(' '));
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

    #[test]
    fn hf_models_load_when_hf_would_give_the_same_ids() {
        let alphabet = ByteLevel::new();
        let mut vocab: Vec<String> = alphabet.chars.iter().enumerate().map(|(b, c)| format!("{:?}: {b}", c.to_string())).collect();
        vocab.extend(["\"Ġt\": 256".into(), "\"Ġth\": 257".into(), "\"<|e|>\": 258".into()]);
        let doc = |merges: &str| {
            format!(
                r#"{{"added_tokens": [{{"id": 258, "content": "<|e|>"}}], "model": {{"type": "BPE", "vocab": {{{}}}, "merges": [{merges}]}}}}"#,
                vocab.join(", ")
            )
        };
        let load = |merges: &str, ignore| {
            let doc = doc(merges);
            let (model, rest) = split_huggingface(doc.as_bytes(), "h")?;
            assert!(!rest.contains("vocab") && rest.contains("added_tokens"), "{rest}");
            from_hf_model(model, vec![("<|e|>".into(), 258)], "gpt2", ignore, "h")
        };
        let tok = load(r#""Ġ t", ["Ġt", "h"]"#, false).unwrap();
        assert_eq!((tok.vocab.tokens[257].as_slice(), tok.n_vocab()), (&b" th"[..], 259));
        let err = |merges: &str| load(merges, false).err().unwrap().to_string();
        assert!(err(r#""Ġ t""#).contains("the merges lack \"Ġt h\", which this tokenizer uses to make token 257 (\"Ġth\")"));
        assert!(err(r#"["Ġt", "h"], "Ġ t""#).contains("merge 1: merges are not in id order"));
        assert!(err(r#""Ġ q", "Ġt h""#).contains("h: merge 0 makes \"Ġq\", which is not in the vocab"));
        assert!(err(r#""Ġ zz""#).contains("merge 0 names \"zz\", which is not in the vocab"));
        assert!(err(r#"7"#).contains("merge 0: expected 'LEFT RIGHT' or [LEFT, RIGHT], found 7"));
        let bad_doc = |d: &str| split_huggingface(d.as_bytes(), "h").err().unwrap().to_string();
        assert!(bad_doc(r#"{"model": {"type": "WordPiece", "vocab": {}}}"#).contains("not a BPE tokenizer.json"));
        assert!(bad_doc(r#"{"model": {"vocab": []}}"#).contains("model.vocab is not an object"));
        assert!(bad_doc(&format!("{{\"model\": {}", "[".repeat(100_000))).contains("h, line 1: not valid JSON (EOF"));
        let deep = format!("{{\"model\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(bad_doc(&deep).contains("not a BPE tokenizer.json"));
    }

    #[test]
    fn hf_spelling_lists_every_split() {
        let vocab = Vocab::from_merges(&crate::vocab::IDENTITY, &[(b'a' as u32, b'b' as u32), (256, b'c' as u32), (b'b' as u32, b'c' as u32)], vec![], "t").unwrap();
        let (spelled, merges) = hf_spelling(&vocab);
        assert_eq!((spelled[32].as_str(), spelled[256].as_str(), spelled[258].as_str()), ("Ġ", "ab", "bc"));
        assert_eq!(merges, ["a b", "a bc", "ab c", "b c"]);
    }
}
