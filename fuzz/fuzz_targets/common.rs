//! Oracles shared by the fuzz targets: slow, obviously right versions of what the crate does fast.
#![allow(dead_code)]

use bpe::counts::WordCounts;
use bpe::vocab::Vocab;

/// Any input as text: invalid UTF-8 becomes U+FFFD, so no input is wasted.
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// tiktoken's rule on one piece, recomputed from scratch at every step: a piece that is a token
/// is that token (tiktoken looks the whole piece up first, which differs from merging only when
/// a ranked list holds a token no merges reach, as `load_ranked`'s lists can); otherwise merge the
/// adjacent pair whose concatenation is the token of lowest rank (the leftmost such pair), until
/// none is a token.
pub fn naive_encode_piece(vocab: &Vocab, piece: &[u8]) -> Vec<u32> {
    let ranks: std::collections::HashMap<&[u8], u32> =
        vocab.tokens.iter().enumerate().map(|(i, t)| (t.as_slice(), i as u32)).collect();
    if let Some(&id) = ranks.get(piece) {
        return vec![id];
    }
    let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
    loop {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            let mut joined = parts[i].clone();
            joined.extend_from_slice(&parts[i + 1]);
            if let Some(&rank) = ranks.get(joined.as_slice()) {
                if best.is_none_or(|(r, _)| rank < r) {
                    best = Some((rank, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        let right = parts.remove(i + 1);
        parts[i].extend_from_slice(&right);
    }
    parts.iter().map(|p| ranks[p.as_slice()]).collect()
}

/// The trainer's rule, recounting every pair at every step (the same oracle as train.rs's tests):
/// the pair with the highest count, ties to the smallest (left, right); a pair whose bytes are
/// already a token is never merged; occurrences merge left to right.
pub fn naive_train(counts: &WordCounts, n: usize) -> Vec<(u32, u32)> {
    let mut words: Vec<(Vec<u32>, i64)> =
        counts.words.iter().map(|(w, c)| (w.iter().map(|&b| b as u32).collect(), *c as i64)).collect();
    let mut bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut merges = vec![];
    let mut banned = std::collections::HashSet::new();
    while merges.len() < n {
        let mut pc: std::collections::BTreeMap<(u32, u32), i64> = Default::default();
        for (w, c) in &words {
            for p in w.windows(2) {
                *pc.entry((p[0], p[1])).or_insert(0) += c;
            }
        }
        let best = pc.iter().filter(|(p, _)| !banned.contains(*p)).max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)));
        let Some((&(a, b), _)) = best else { break };
        let mut nb = bytes[a as usize].clone();
        nb.extend_from_slice(&bytes[b as usize]);
        if bytes.contains(&nb) {
            banned.insert((a, b));
            continue;
        }
        let t = bytes.len() as u32;
        bytes.push(nb);
        merges.push((a, b));
        for (w, _) in words.iter_mut() {
            let mut out = vec![];
            let mut i = 0;
            while i < w.len() {
                if i + 1 < w.len() && w[i] == a && w[i + 1] == b {
                    out.push(t);
                    i += 2;
                } else {
                    out.push(w[i]);
                    i += 1;
                }
            }
            *w = out;
        }
    }
    merges
}

/// A built-in pre-tokenizer against fancy-regex running its pattern(s), on any input: the same
/// pieces, non-empty, tiling the text; and every safe cut (where long texts are split for
/// threads) splits the text into two halves whose pieces are the whole text's pieces.
pub fn check_pretokenizer(name: &str, patterns: &[&str], data: &[u8]) {
    use std::sync::OnceLock;
    static COMPILED: OnceLock<(bpe::pretokenize::Pretokenizer, Vec<fancy_regex::Regex>)> = OnceLock::new();
    let (pre, oracles) = COMPILED.get_or_init(|| {
        let pre = bpe::pretokenize::Pretokenizer::new(name).unwrap();
        (pre, patterns.iter().map(|p| fancy_regex::Regex::new(p).unwrap()).collect())
    });
    let text = text(data);
    let ours = pre.pieces(&text).unwrap();
    assert!(ours.iter().all(|p| !p.is_empty()), "{name}: empty piece on {text:?}");
    assert_eq!(ours.concat(), text, "{name}: pieces do not tile {text:?}");
    for (re, pattern) in oracles.iter().zip(patterns) {
        let mut theirs = Vec::new();
        for m in re.find_iter(&text) {
            match m {
                Ok(m) => theirs.push(m.as_str()),
                Err(_) => return, // the oracle hit its backtracking limit: no verdict
            }
        }
        assert_eq!(ours, theirs, "{name} on {text:?} against {pattern}");
    }
    let b = text.as_bytes();
    for at in (0..b.len()).filter(|&at| pre.is_safe_cut(b, at)).take(8) {
        let mut halves = pre.pieces(&text[..at]).unwrap();
        halves.extend(pre.pieces(&text[at..]).unwrap());
        assert_eq!(halves, ours, "{name}: safe cut at {at} changes the pieces of {text:?}");
    }
}
